/* {{name}}: keeps the records whose value contains the parameter `needle` (kind: filter).
 *
 * Kept records pass through unchanged, typed columns included. dataflare.h
 * documents the SDK; build and package with `dataflare plugin build`. */
#include "dataflare.h"

static df_bytes needle; /* parameters stay valid for the life of the plugin */

df_status df_on_init(const df_params *params) {
    static const char *const known[] = {"needle"};
    df_status status = df_params_allow(params, known, 1);
    if (status != DF_OK) return status;
    if (!df_param(params, "needle", &needle) || needle.len == 0)
        return df_config_error("set the parameter 'needle' to the text a value must contain");
    return DF_OK;
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);)
        if (df_bytes_find(r.value, needle) >= 0) df_emit_input(out, r.index);
    return DF_OK;
}
