/*
 * stages.h - the stages built into nxd (stages_builtin.c), and those a
 * program linked with the core registers. Plugins are stage.c's.
 */
#ifndef NX_CORE_STAGES_H
#define NX_CORE_STAGES_H

#include <nx/nx_stage.h>

extern const struct nx_stage_ops nx__stage_echo;
extern const struct nx_stage_ops nx__stage_checksum;
/** A built-in or registered stage by name, or NULL. */
const struct nx_stage_ops *nx__stage_builtin(const char *name);
int nx__stage_register(const struct nx_stage_ops *ops); /* nxd.h documents it */
/** The built-in stages' names, for messages. */
const char *nx__stage_builtin_names(void);

#endif /* NX_CORE_STAGES_H */
