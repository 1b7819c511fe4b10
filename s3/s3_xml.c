/* s3_xml.c - see s3_xml.h */
#include "s3/s3_xml.h"

#include <expat.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define XML_MAX_DEPTH 16
#define XML_MAX_TEXT 2048

typedef struct xml_state {
    XML_Parser parser;
    s3_xml_reply *out;
    int depth;             /* elements open */
    char names[4][64];     /* local names at depth 1..4 (index depth-1) */
    char text[XML_MAX_TEXT];
    size_t text_len;
    char up_key[1024];     /* current <Upload> */
    char up_id[512];
    bool refused;          /* DOCTYPE seen */
} xml_state;

static void copy_field(char *dst, size_t dstsz, const char *src)
{
    snprintf(dst, dstsz, "%s", src);
}

static const char *local_name(const char *name)
{
    const char *sep = strrchr(name, '|');
    return sep ? sep + 1 : name;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    xml_state *s = ud;
    (void)atts;
    s->depth++;
    if (s->depth > XML_MAX_DEPTH) {
        s->refused = true;
        XML_StopParser(s->parser, XML_FALSE);
        return;
    }
    if (s->depth <= 4)
        copy_field(s->names[s->depth - 1], sizeof s->names[0], local_name(name));
    if (s->depth == 1)
        copy_field(s->out->root, sizeof s->out->root, local_name(name));
    if (s->depth == 2 && strcmp(s->names[1], "Upload") == 0) {
        s->up_key[0] = '\0';
        s->up_id[0] = '\0';
    }
    s->text_len = 0;
    s->text[0] = '\0';
}

static void on_text(void *ud, const XML_Char *t, int len)
{
    xml_state *s = ud;
    size_t room = sizeof s->text - 1 - s->text_len;
    size_t n = len < 0 ? 0 : (size_t)len;
    if (n > room)
        n = room; /* cut, never overflow */
    memcpy(s->text + s->text_len, t, n);
    s->text_len += n;
    s->text[s->text_len] = '\0';
}

static void on_end(void *ud, const XML_Char *name)
{
    xml_state *s = ud;
    s3_xml_reply *o = s->out;
    (void)name;
    if (s->depth == 2) {
        const char *n = s->names[1];
        if (strcmp(n, "Code") == 0)
            copy_field(o->code, sizeof o->code, s->text);
        else if (strcmp(n, "Message") == 0)
            copy_field(o->message, sizeof o->message, s->text);
        else if (strcmp(n, "RequestId") == 0)
            copy_field(o->request_id, sizeof o->request_id, s->text);
        else if (strcmp(n, "UploadId") == 0)
            copy_field(o->upload_id, sizeof o->upload_id, s->text);
        else if (strcmp(n, "ETag") == 0)
            copy_field(o->etag, sizeof o->etag, s->text);
        else if (strcmp(n, "IsTruncated") == 0)
            o->truncated = strcmp(s->text, "true") == 0;
        else if (strcmp(n, "NextKeyMarker") == 0)
            copy_field(o->next_key_marker, sizeof o->next_key_marker, s->text);
        else if (strcmp(n, "NextUploadIdMarker") == 0)
            copy_field(o->next_upload_id_marker, sizeof o->next_upload_id_marker, s->text);
        else if (strcmp(n, "Upload") == 0) {
            o->uploads++;
            if (o->on_upload)
                o->on_upload(o->ud, s->up_key, s->up_id);
        }
    } else if (s->depth == 3 && strcmp(s->names[1], "Upload") == 0) {
        if (strcmp(s->names[2], "Key") == 0)
            copy_field(s->up_key, sizeof s->up_key, s->text);
        else if (strcmp(s->names[2], "UploadId") == 0)
            copy_field(s->up_id, sizeof s->up_id, s->text);
    }
    s->depth--;
    s->text_len = 0;
    s->text[0] = '\0';
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    xml_state *s = ud;
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    s->refused = true;
    XML_StopParser(s->parser, XML_FALSE);
}

int s3_xml_parse(const char *body, size_t len, s3_xml_reply *out, eq_err *err)
{
    xml_state s;
    s3_xml_upload_cb cb = out->on_upload;
    void *cbud = out->ud;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->on_upload = cb;
    out->ud = cbud;
    if (len == 0)
        return 0;
    if (len > INT_MAX)
        return eq_fail(err, EQ_ERR_S3, "S3 reply body too large to parse");
    memset(&s, 0, sizeof s);
    s.out = out;
    s.parser = XML_ParserCreateNS(NULL, '|');
    if (!s.parser)
        return eq_fail(err, EQ_ERR_NOMEM, "out of memory creating the XML parser");
    XML_SetUserData(s.parser, &s);
    XML_SetElementHandler(s.parser, on_start, on_end);
    XML_SetCharacterDataHandler(s.parser, on_text);
    XML_SetStartDoctypeDeclHandler(s.parser, on_doctype);
    if (XML_Parse(s.parser, body, (int)len, XML_TRUE) != XML_STATUS_OK || s.refused) {
        if (s.refused)
            eq_fail(err, EQ_ERR_S3, "S3 reply refused: DOCTYPE or nesting deeper than %d", XML_MAX_DEPTH);
        else
            eq_fail(err, EQ_ERR_S3, "S3 reply is not valid XML (line %lu: %s)",
                    (unsigned long)XML_GetCurrentLineNumber(s.parser),
                    XML_ErrorString(XML_GetErrorCode(s.parser)));
        goto fail;
    }
    rc = 0;
fail:
    XML_ParserFree(s.parser);
    return rc;
}
