//! acme/parse-level: keeps the log lines that report a problem and maps each to
//! its level (kind: filter_map).
//!
//! A value containing "ERROR" becomes "ERROR"; otherwise one containing "WARN"
//! becomes "WARN"; any other line is dropped. The key, time, headers and typed
//! columns are kept. An empty value (code 1) or one that is not valid UTF-8
//! (code 2) goes to the dead-letter destination: a log line must be text.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

const empty_value = 1;
const not_utf8 = 2;

pub fn init(params: df.Params) !void {
    try params.allow(&.{});
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    var records = in.records();
    while (records.next()) |r| {
        if (r.value.len == 0) {
            try df.recordError(r.index, empty_value, "the log line is empty");
        } else if (!std.unicode.utf8ValidateSlice(r.value)) {
            try df.recordError(r.index, not_utf8, "the log line is not valid UTF-8");
        } else if (level(r.value)) |word| {
            try out.emit(r.index, .{ .timestamp = r.timestamp, .key = r.key, .value = word });
        }
    }
}

/// The most severe level word the line contains, or null.
fn level(line: []const u8) ?[]const u8 {
    for ([_][]const u8{ "ERROR", "WARN" }) |word| {
        if (std.mem.find(u8, line, word) != null) return word;
    }
    return null;
}

comptime {
    df.plugin(@This());
}
