/* config_values.h - checks of setting values beyond their type and range
 * (lists of domains, hosts and origins, the admin token, the JWT settings),
 * called by the loader in config.c. Owned by the config module: not for
 * other modules. Each check returns 0, or -1 with `err` naming the variable
 * (never echoing a secret). */
#ifndef EXPORTQ_COMMON_CONFIG_VALUES_H
#define EXPORTQ_COMMON_CONFIG_VALUES_H

#include <stdbool.h>

#include "common/config.h"
#include "common/error.h"

/* True when smtp://user[:pass]@host carries user info. */
bool eq_config_smtp_url_has_credentials(const char *url);
int eq_config_admin_token_check(const char *t, eq_err *err);
int eq_config_frame_ancestors_check(const char *list, eq_err *err);
int eq_config_domains_check(const char *list, eq_err *err);
/* The JWT settings together (secret, key file, claims, audience, issuer). */
int eq_config_jwt_check(const eq_config *cfg, eq_err *err);
int eq_config_origins_check(const char *list, eq_err *err);

#endif
