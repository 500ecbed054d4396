using System.Globalization;
using System.Text;
using System.Text.Json;
using LongLM.Runtime;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm bench -o md|csv|json`: llama-bench's layouts (its markdown table, a CSV with a header row, a JSON array of
/// one object per row with llama-bench's field names where one exists), plus LongLM's columns: attention, weight
/// GB/s, peak working set and KV-cache bytes.
/// </summary>
public static class BenchOutput
{
    /// <summary>Output format names.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["md", "csv", "json"];

    /// <summary>The rows in <paramref name="format"/>.</summary>
    public static string Format(IReadOnlyList<BenchRow> rows, string format) => format switch
    {
        "md" => Markdown(rows),
        "csv" => Csv(rows),
        "json" => Json(rows),
        _ => throw new LongLMException($"unknown output format '{format}' (available: {string.Join(", ", Formats)})"),
    };

    /// <summary>llama-bench's markdown table: right-aligned numbers, "mean ± sd" tokens per second.</summary>
    public static string Markdown(IReadOnlyList<BenchRow> rows)
    {
        string[] head = ["model", "size", "params", "backend", "threads", "attention", "test", "t/s", "weight GB/s", "peak RSS", "KV cache"];
        bool[] right = [false, true, true, false, true, false, true, true, true, true, true];
        var cells = rows.Select(r => new[]
        {
            $"{r.Model} ({r.ModelType})", Bytes(r.SizeBytes), Count(r.Params), r.Backend, r.Threads?.ToString(CultureInfo.InvariantCulture) ?? "-",
            r.Attention, r.TestName, Invariant($"{r.MeanTokensPerSecond:F2} ± {r.SdTokensPerSecond:F2}"),
            r.WeightGBps is double g ? Invariant($"{g:F2}") : "-", Bytes(r.PeakWorkingSetBytes), Bytes(r.KvBytes),
        }).ToList();
        int[] width = head.Select((h, i) => Math.Max(h.Length, cells.Select(c => c[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        var sb = new StringBuilder();
        void Line(IEnumerable<string> values) => sb.Append("| ").AppendJoin(" | ", values).Append(" |\n");
        Line(head.Select((h, i) => right[i] ? h.PadLeft(width[i]) : h.PadRight(width[i])));
        Line(width.Select((w, i) => right[i] ? new string('-', w - 1) + ":" : new string('-', w)));
        foreach (var c in cells) Line(c.Select((v, i) => right[i] ? v.PadLeft(width[i]) : v.PadRight(width[i])));
        foreach (var r in rows)
            if (r.Profile is { } p) sb.Append('\n').Append(ProfileMarkdown(r, p));
        return sb.ToString();
    }

    /// <summary>A row's --profile as a markdown table: op, calls per token, µs per token, share of the wall time.</summary>
    public static string ProfileMarkdown(BenchRow r, BenchProfile p)
    {
        var sb = new StringBuilder(Invariant($"profile: {r.Model}, {r.Attention}, t={r.Threads?.ToString(CultureInfo.InvariantCulture) ?? "-"}, {r.TestName}\n\n"));
        sb.Append("| op | calls/token | us/token | share |\n|---|---:|---:|---:|\n");
        foreach (var e in p.Ops)
            sb.Append(Invariant($"| {e.Op} | {(e.CallsPerToken < 1 ? Invariant($"{e.CallsPerToken:F3}") : Invariant($"{e.CallsPerToken:F1}"))} | {e.MicrosecondsPerToken:F1} | {100 * e.Share:F1}% |\n"));
        sb.Append(Invariant($"\nthread wake-ups: {p.ParallelRegionsPerToken:F1} parallel regions/token x {p.EmptyRegionMicroseconds:F2} us (empty region) = about {p.WakeupMicrosecondsPerToken:F0} us/token, inside the op times\n"));
        return sb.ToString();
    }

    private static readonly string[] CsvHeader =
    [
        "model_filename", "model_type", "model_size", "model_n_params", "backend", "n_threads", "attention", "test", "n_prompt", "n_gen", "n_depth",
        "repetitions", "avg_ts", "stddev_ts", "weight_bytes_per_token", "weight_gbps", "peak_working_set_bytes", "peak_scope", "kv_bytes", "kv_allocated_bytes",
    ];

    /// <summary>One header row, then one row per test; strings are quoted.</summary>
    public static string Csv(IReadOnlyList<BenchRow> rows)
    {
        var sb = new StringBuilder().AppendJoin(',', CsvHeader).Append('\n');
        foreach (var r in rows)
        {
            sb.AppendJoin(',', new[]
            {
                Quote(r.Model), Quote(r.ModelType), Num(r.SizeBytes), Num(r.Params), Quote(r.Backend), r.Threads is int t ? Num(t) : "", Quote(r.Attention),
                Quote(r.TestName), Num(r.Test == "pp" ? r.Tokens : 0), Num(r.Test == "tg" ? r.Tokens : 0), Num(r.Depth), Num(r.Samples.Length),
                Invariant($"{r.MeanTokensPerSecond:R}"), Invariant($"{r.SdTokensPerSecond:R}"), Num(r.WeightBytesPerToken),
                r.WeightGBps is double g ? Invariant($"{g:R}") : "", Num(r.PeakWorkingSetBytes), Quote(r.PeakScope), Num(r.KvBytes), Num(r.KvAllocatedBytes),
            }).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A JSON array of one object per row (llama-bench -o json's shape), with every repetition's tokens per second.</summary>
    public static string Json(IReadOnlyList<BenchRow> rows) =>
        JsonSerializer.Serialize(rows.Select(r => new Dictionary<string, object?>
        {
            ["model_filename"] = r.Model,
            ["model_type"] = r.ModelType,
            ["model_size"] = r.SizeBytes,
            ["model_n_params"] = r.Params,
            ["backend"] = r.Backend,
            ["n_threads"] = r.Threads,
            ["attention"] = r.Attention,
            ["test"] = r.TestName,
            ["n_prompt"] = r.Test == "pp" ? r.Tokens : 0,
            ["n_gen"] = r.Test == "tg" ? r.Tokens : 0,
            ["n_depth"] = r.Depth,
            ["avg_ts"] = r.MeanTokensPerSecond,
            ["stddev_ts"] = r.SdTokensPerSecond,
            ["samples_ts"] = r.Samples,
            ["weight_bytes_per_token"] = r.WeightBytesPerToken,
            ["weight_gbps"] = r.WeightGBps,
            ["peak_working_set_bytes"] = r.PeakWorkingSetBytes,
            ["peak_scope"] = r.PeakScope,
            ["kv_bytes"] = r.KvBytes,
            ["kv_allocated_bytes"] = r.KvAllocatedBytes,
            ["profile"] = r.Profile is { } p ? ProfileJson(p) : null,
        }).ToArray(), new JsonSerializerOptions { WriteIndented = true });

    private static Dictionary<string, object> ProfileJson(BenchProfile p) => new()
    {
        ["ops"] = p.Ops.Select(e => new Dictionary<string, object>
        {
            ["op"] = e.Op, ["calls_per_token"] = e.CallsPerToken, ["us_per_token"] = e.MicrosecondsPerToken, ["share"] = e.Share,
        }).ToArray(),
        ["parallel_regions_per_token"] = p.ParallelRegionsPerToken,
        ["empty_region_us"] = p.EmptyRegionMicroseconds,
        ["wakeup_us_per_token"] = p.WakeupMicrosecondsPerToken,
    };

    /// <summary>Rows read back from a file written by -o json (for --from: merge runs into one table and plot).</summary>
    /// <exception cref="LongLMException">Missing file, not JSON, or not bench rows.</exception>
    public static IReadOnlyList<BenchRow> ReadJson(string path)
    {
        string text = CliIO.ReadTextFile(path, 64 << 20, "bench JSON file");
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.EnumerateArray().Select(e =>
            {
                int prompt = e.GetProperty("n_prompt").GetInt32(), gen = e.GetProperty("n_gen").GetInt32();
                if (e.GetProperty("samples_ts").GetArrayLength() == 0) throw new FormatException("a row has no samples_ts");
                return new BenchRow(e.GetProperty("model_filename").GetString()!, e.GetProperty("model_type").GetString()!,
                    e.GetProperty("model_size").GetInt64(), e.GetProperty("model_n_params").GetInt64(), e.GetProperty("backend").GetString()!,
                    e.GetProperty("n_threads").ValueKind == JsonValueKind.Number ? e.GetProperty("n_threads").GetInt32() : null,
                    e.GetProperty("attention").GetString()!, prompt > 0 ? "pp" : "tg", prompt > 0 ? prompt : gen, e.GetProperty("n_depth").GetInt32(),
                    e.GetProperty("samples_ts").EnumerateArray().Select(s => s.GetDouble()).ToArray(), e.GetProperty("weight_bytes_per_token").GetInt64(),
                    e.GetProperty("peak_working_set_bytes").GetInt64(), e.GetProperty("peak_scope").GetString()!,
                    e.GetProperty("kv_bytes").GetInt64(), e.GetProperty("kv_allocated_bytes").GetInt64());
            }).ToList();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new LongLMException($"{path}: not a `longlm bench -o json` file ({e.Message})", path);
        }
    }

    /// <summary>llama-bench's size: GiB, or MiB below one GiB.</summary>
    public static string Bytes(long bytes) => bytes >= 1L << 30 ? Invariant($"{bytes / (double)(1L << 30):F2} GiB") : Invariant($"{bytes / (double)(1L << 20):F2} MiB");

    /// <summary>llama-bench's params: B, M or K.</summary>
    public static string Count(long n) => n >= 1_000_000_000 ? Invariant($"{n / 1e9:F2} B") : n >= 1_000_000 ? Invariant($"{n / 1e6:F2} M") : Invariant($"{n / 1e3:F2} K");

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);
    private static string Quote(string value) => "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
