//! {{name}}: trims the spaces around each value and drops blank records (kind: filter_map).
//!
//! One output record, or none, per input record. A value that is not UTF-8
//! goes to the dead-letter destination. dataflare.zig documents the SDK; build
//! and package with `dataflare plugin build`.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

const not_utf8 = 1; // this plugin's per-record error codes

pub fn init(params: df.Params) !void {
    try params.allow(&.{});
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    var records = in.records();
    while (records.next()) |r| {
        if (!std.unicode.utf8ValidateSlice(r.value)) {
            try df.recordError(r.index, not_utf8, "the value is not valid UTF-8");
            continue;
        }
        const trimmed = std.mem.trim(u8, r.value, &std.ascii.whitespace);
        if (trimmed.len == 0) continue; // blank: no output
        try out.emit(r.index, .{ .timestamp = r.timestamp, .key = r.key, .value = trimmed });
    }
}

comptime {
    df.plugin(@This());
}
