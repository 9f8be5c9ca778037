/*
 * pipetab.h - the instance's pipeline table (pipetab.c), on the control
 * thread: build and publish pipelines, swap and roll back stages, and
 * destroy what a change replaced once a grace period has passed (the
 * gone list); the health segment's pipeline directory and slot table.
 */
#ifndef NX_CORE_PIPETAB_H
#define NX_CORE_PIPETAB_H

#include "core/control/instance.h"

/** Build the built-in pipelines, then the configured ones. @return 0 or the build's error */
int nx__pipetab_start(struct nx_instance *inst);
/** Destroy every pipeline (workers stopped). */
void nx__pipetab_stop(struct nx_instance *inst);
/** Destroy what changes replaced: what a grace period has passed for
 *  (passed_only), or everything (workers stopped, or after a grace period). */
void nx__pipetab_reclaim(struct nx_instance *inst, bool passed_only);
/** The environment pipelines are built in. */
void nx__pipetab_env(struct nx_instance *inst, struct nx_build_env *env);

/** Room for n more replaced objects, before anything is built.
 *  @return 0 or NX_EBUSY (a worker holds the grace periods back) */
int nx__pipetab_room(struct nx_instance *inst, unsigned n);
/** Build a pipeline and publish it, in place of its namesake or added.
 *  @return its id (*pp the pipeline), or the build's error (nothing changed) */
int nx__pipetab_build(struct nx_instance *inst, const struct nx_pipe_spec *spec,
		      struct nx_pipeline **pp);
/** A pipeline's slot by names. @return 0 or NX_ENOENT with its message */
int nx__pipetab_find_slot(struct nx_instance *inst, const char *pipe, const char *slot,
			  struct nx_pipeline **pp, struct nx_slot **sp);
/** Build a stage from ss (checked with the probe) and make it the slot's
 *  current one, the current one its previous. @return 0 (*sp the slot), or
 *  NX_ENOENT, NX_EBUSY, the stage's error: nothing changed */
int nx__pipetab_swap_stage(struct nx_instance *inst, const char *pipe, const char *slot,
			   const struct nx_slot_spec *ss, const uint8_t *probe, uint32_t probe_len,
			   struct nx_slot **sp);
/** Swap a slot's current and previous stages. @return 0 (*sp the slot) or NX_ENOENT */
int nx__pipetab_rollback(struct nx_instance *inst, const char *pipe, const char *slot,
			 struct nx_slot **sp);

#endif /* NX_CORE_PIPETAB_H */
