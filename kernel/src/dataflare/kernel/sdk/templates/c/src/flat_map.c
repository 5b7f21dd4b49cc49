/* {{name}}: one output record per comma-separated item of each value (kind: flat_map).
 *
 * "a,b,,c" gives three records "a", "b" and "c", each with its input's time,
 * key, headers and columns. dataflare.h documents the SDK; build and package
 * with `dataflare plugin build`. */
#include "dataflare.h"

df_status df_on_init(const df_params *params) {
    return df_params_allow(params, NULL, 0);
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        uint32_t start = 0;
        for (uint32_t i = 0; i <= r.value.len; i++) {
            if (i < r.value.len && r.value.ptr[i] != ',') continue;
            if (i > start)
                df_emit(out, r.index, r.timestamp, r.key.ptr, r.key.len, r.value.ptr + start, i - start);
            start = i + 1;
        }
    }
    return DF_OK;
}
