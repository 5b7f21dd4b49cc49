/* {{name}}: upper-cases the ASCII letters of every record's value (kind: map).
 *
 * One output record per input record. dataflare.h documents the SDK; build and
 * package with `dataflare plugin build`. */
#include "dataflare.h"

df_status df_on_init(const df_params *params) {
    return df_params_allow(params, NULL, 0); /* no parameters: refuse unknown ones */
}

df_status df_on_batch(const df_batch *in, df_output *out) {
    df_record r;
    for (df_iter it = df_iter_begin(in); df_next(&it, &r);) {
        uint8_t *value = df_alloc(r.value.len); /* freed when the next batch starts */
        if (!value) return DF_NO_MEMORY;
        for (uint32_t i = 0; i < r.value.len; i++) {
            uint8_t c = r.value.ptr[i];
            value[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
        }
        /* A new record that keeps the input's time, key, headers and columns. */
        df_emit(out, r.index, r.timestamp, r.key.ptr, r.key.len, value, r.value.len);
    }
    return DF_OK;
}
