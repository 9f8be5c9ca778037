/*
 * The retrieval package as one plugin: nx-retrieval.so.
 *
 *   search.stage = search
 *   search.plugin = /usr/local/lib/nexus/nx-retrieval.so
 *   search.k = 10
 *
 * Its stages share one index of the corpus, built by the first init that
 * needs it and freed by the last fini (nxr.h).
 */
#include "stages/retrieval/nxr.h"

NX_PLUGIN("retrieval", &nxr_router_stage, &nxr_preprocess_stage, &nxr_cache_stage,
	  &nxr_search_stage, &nxr_bm25_stage, &nxr_phrase_stage, &nxr_prefix_stage,
	  &nxr_fuzzy_stage, &nxr_fusion_stage, &nxr_rerank_stage, &nxr_answer_stage);
