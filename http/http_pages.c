/* http_pages.c - see http_internal.h: the status page (built on common/link). */
#include "http/http_internal.h"

enum MHD_Result http_pages_handle(http_server *s, struct MHD_Connection *c, http_req *r)
{
    http_problem p;
    (void)s;
    http_problem_set(&p, 404, "not_found", "no such page");
    return http_respond_problem(c, r, &p);
}
