using System.Text.Json;

namespace LongLM.Tests.Cli;

/// <summary>
/// `longlm bench` on stories260K with tiny sizes: the md/csv/json shapes, values that must agree with each other and
/// with config.json, and bad input as one error line with exit 2. Expected byte counts are computed here from
/// config.json by hand (the cache stores float32 keys and values per layer and KV head, algorithms.md 2.7), never
/// read from the code under test.
/// </summary>
public sealed class BenchCliTests : IDisposable
{
    private static string Stories => ModelFolderCopy.Stories260K;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly string[] Tiny = ["-p", "8", "-n", "4", "-r", "2", "-d", "0,16"];

    /// <summary>config.json of stories260K, read independently of the runtime.</summary>
    private static JsonElement Config() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "config.json"))).RootElement;

    /// <summary>KV bytes per token: layers x kv_heads x head_dim (hidden / heads) x 2 (keys, values) x 4 (float32) = 5 x 4 x 8 x 2 x 4 = 1280.</summary>
    private static long KvBytesPerToken()
    {
        var c = Config();
        long headDim = c.GetProperty("hidden_size").GetInt64() / c.GetProperty("num_attention_heads").GetInt64();
        return c.GetProperty("num_hidden_layers").GetInt64() * c.GetProperty("num_key_value_heads").GetInt64() * headDim * 2 * 4;
    }

    /// <summary>
    /// Weight bytes per decoded token by hand from config.json (F32, tied): every Llama tensor (q, k, v, o, gate, up,
    /// down, two norms per layer, final norm) plus the 512 x 64 embedding as the head, plus one gathered embedding row.
    /// </summary>
    private static long WeightBytesPerToken()
    {
        var c = Config();
        long d = c.GetProperty("hidden_size").GetInt64(), ff = c.GetProperty("intermediate_size").GetInt64();
        long heads = c.GetProperty("num_attention_heads").GetInt64(), kv = c.GetProperty("num_key_value_heads").GetInt64();
        long vocab = c.GetProperty("vocab_size").GetInt64(), layers = c.GetProperty("num_hidden_layers").GetInt64();
        long kvDim = kv * (d / heads);
        long perLayer = d * d + 2 * d * kvDim + d * d + 3 * d * ff + 2 * d;
        return 4 * (layers * perLayer + d + vocab * d + d);
    }

    private static JsonElement[] Json(params string[] extra)
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, .. Tiny, "-o", "json", .. extra]);
        Assert.True(exit == 0, err);
        return JsonDocument.Parse(output).RootElement.EnumerateArray().ToArray();
    }

    [Fact]
    public void Markdown_IsLlamaBenchsTable_OneRowPerTestAndDepth()
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, .. Tiny]);
        Assert.True(exit == 0, err);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        Assert.Equal(["model", "size", "params", "backend", "threads", "attention", "test", "t/s", "weight GB/s", "peak RSS", "KV cache"], Cells(lines[0]));
        Assert.Matches(@"^\| -+ \| -+: \| -+: \| -+ \| -+: \| -+ \| -+: \| -+: \| -+: \| -+: \| -+: \|$", lines[1]);
        Assert.Equal(["pp8", "tg4", "pp8 @ d16", "tg4 @ d16"], lines[2..].Select(l => Cells(l)[6]));
        foreach (string line in lines[2..])
        {
            string[] cells = Cells(line);
            Assert.Equal("stories260K (llama)", cells[0]);
            Assert.Equal("0.99 MiB", cells[1]); // 1,040,128 bytes of F32 tensors
            Assert.Equal("260.03 K", cells[2]);
            Assert.Equal("cpu", cells[3]);
            Assert.Equal("vanilla", cells[5]);
            Assert.Matches(@"^[0-9]+\.[0-9]{2} ± [0-9]+\.[0-9]{2}$", cells[7]);
            Assert.Matches(cells[6].StartsWith("tg") ? @"^[0-9]+\.[0-9]{2}$" : "^-$", cells[8]);
            Assert.Matches(@"^[0-9]+\.[0-9]{2} MiB$", cells[9]);
        }
        // Every line has the same width: the columns are padded as llama-bench's.
        Assert.Single(lines.Select(l => l.Length).Distinct());
    }

    [Fact]
    public void Csv_HasAHeaderAndARowPerThreadCountTestAndDepth()
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, .. Tiny, "-t", "1,2", "-o", "csv"]);
        Assert.True(exit == 0, err);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] header = lines[0].Split(',');
        Assert.Equal(9, lines.Length);
        Assert.Equal(["model_filename", "model_type", "model_size", "model_n_params", "backend", "n_threads", "attention", "test", "n_prompt", "n_gen", "n_depth"], header[..11]);
        Assert.Contains("avg_ts", header);
        Assert.Contains("kv_bytes", header);
        var rows = lines[1..].Select(l => l.Split(',')).ToArray();
        Assert.All(rows, r => Assert.Equal(header.Length, r.Length));
        int threads = Array.IndexOf(header, "n_threads"), test = Array.IndexOf(header, "test");
        Assert.Equal(["1", "1", "1", "1", "2", "2", "2", "2"], rows.Select(r => r[threads]));
        Assert.Equal(["\"pp8\"", "\"tg4\"", "\"pp8 @ d16\"", "\"tg4 @ d16\""], rows[..4].Select(r => r[test]));
    }

    [Fact]
    public void Json_ValuesAgree_KvBytesGrowWithDepthByTheCachesBytesPerToken()
    {
        var rows = Json();
        Assert.Equal(4, rows.Length);
        long perToken = KvBytesPerToken();
        Assert.Equal(1280, perToken);
        // Vanilla keeps every token: pp8 ends with 8 tokens, tg4 with 4 (the BOS fed first, then 3 greedy ids, each
        // written once), and a depth of 16 adds exactly 16 tokens' bytes to each.
        long Kv(string test) => rows.Single(r => r.GetProperty("test").GetString() == test).GetProperty("kv_bytes").GetInt64();
        Assert.Equal(8 * perToken, Kv("pp8"));
        Assert.Equal(4 * perToken, Kv("tg4"));
        Assert.Equal(16 * perToken, Kv("pp8 @ d16") - Kv("pp8"));
        Assert.Equal(16 * perToken, Kv("tg4 @ d16") - Kv("tg4"));
        foreach (var r in rows)
        {
            double[] samples = r.GetProperty("samples_ts").EnumerateArray().Select(s => s.GetDouble()).ToArray();
            Assert.Equal(2, samples.Length);
            Assert.All(samples, s => Assert.True(s > 0 && double.IsFinite(s)));
            double mean = (samples[0] + samples[1]) / 2;
            Assert.Equal(mean, r.GetProperty("avg_ts").GetDouble(), 1e-9 * mean);
            // Sample standard deviation of two values: |a - b| / sqrt(2).
            Assert.Equal(Math.Abs(samples[0] - samples[1]) / Math.Sqrt(2), r.GetProperty("stddev_ts").GetDouble(), 1e-9 * mean);
            Assert.Equal(WeightBytesPerToken(), r.GetProperty("weight_bytes_per_token").GetInt64());
            Assert.Equal(4 * 260032, r.GetProperty("model_size").GetInt64());
            Assert.True(r.GetProperty("kv_allocated_bytes").GetInt64() >= r.GetProperty("kv_bytes").GetInt64());
            Assert.True(r.GetProperty("peak_working_set_bytes").GetInt64() > 1 << 20);
            bool tg = r.GetProperty("n_gen").GetInt32() > 0;
            if (tg) Assert.Equal(WeightBytesPerToken() * mean / 1e9, r.GetProperty("weight_gbps").GetDouble(), 1e-9);
            else Assert.Equal(JsonValueKind.Null, r.GetProperty("weight_gbps").ValueKind);
        }
    }

    /// <summary>
    /// With --quantize q8_0 the 30 projections of stories260K (q, k, v, o, gate, up of 5 layers: 64 + 32 + 32 + 64 +
    /// 172 + 172 = 536 rows of 64 columns per layer) are read as q8_0, 2 blocks of 34 bytes per row instead of 256 bytes
    /// of float32; down_proj (172 columns), the norms and the tied head stay F32. Expected by hand from config.json.
    /// (Before, bench counted stored bytes whatever was loaded.)
    /// </summary>
    [Fact]
    public void Json_Quantized_CountsTheLoadedBytes()
    {
        var c = Config();
        long d = c.GetProperty("hidden_size").GetInt64(), ff = c.GetProperty("intermediate_size").GetInt64();
        long kvDim = c.GetProperty("num_key_value_heads").GetInt64() * (d / c.GetProperty("num_attention_heads").GetInt64());
        long rowsPerLayer = d + 2 * kvDim + d + 2 * ff;
        Assert.Equal(536, rowsPerLayer);
        long saved = c.GetProperty("num_hidden_layers").GetInt64() * rowsPerLayer * (4 * d - d / 32 * 34);
        foreach (var r in Json("--quantize", "q8_0"))
        {
            Assert.Equal(WeightBytesPerToken() - saved, r.GetProperty("weight_bytes_per_token").GetInt64());
            Assert.Equal(4 * 260032 - saved, r.GetProperty("model_size").GetInt64());
        }
    }

    [Fact]
    public void Json_Lambda_KeepsTheFirstGTokensTwice()
    {
        // Lambda (G = 10) stores every token in the local window (L = 512 here, so nothing is dropped yet) and the
        // stream's first G tokens again, raw, in the far store: tg4 at depth 16 holds 20 local + 10 far slots.
        var rows = Json("--attention", "lambda", "--only", "tg");
        Assert.Equal(["tg4", "tg4 @ d16"], rows.Select(r => r.GetProperty("test").GetString()));
        Assert.Equal((4 + 4) * KvBytesPerToken(), rows[0].GetProperty("kv_bytes").GetInt64());
        Assert.Equal((20 + 10) * KvBytesPerToken(), rows[1].GetProperty("kv_bytes").GetInt64());
        Assert.StartsWith("lambda", rows[0].GetProperty("attention").GetString());
    }

    [Fact]
    public void Plot_WritesAPng_AndFromMergesSavedRuns()
    {
        var (exit, vanilla, err) = CliRunner.Run(["bench", "-m", Stories, .. Tiny, "--only", "tg", "-o", "json"]);
        Assert.True(exit == 0, err);
        var lambda = CliRunner.Run(["bench", "-m", Stories, .. Tiny, "--only", "tg", "-o", "json", "--attention", "lambda"]);
        Assert.True(lambda.Exit == 0, lambda.Err);
        string a = _dir.WriteText("v.json", vanilla), b = _dir.WriteText("l.json", lambda.Out), png = _dir.File("p.png");
        var merged = CliRunner.Run("bench", "--from", $"{a},{b}", "--plot", png, "-o", "csv");
        Assert.True(merged.Exit == 0, merged.Err);
        string[] lines = merged.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.Equal(2, lines.Count(l => l.Contains("\"vanilla\"")));
        Assert.Equal(2, lines.Count(l => l.Contains("\"lambda")));
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, File.ReadAllBytes(png)[..8]);
    }

    [Theory]
    [InlineData("-p 0", "-p: 0 is below 1")]
    [InlineData("-n 0", "-n: 0 is below 1")]
    [InlineData("-t 0", "-t: 0 is below 1")]
    [InlineData("-t 1,x", "-t: 'x' is not a whole number")]
    [InlineData("-r 0", "-r must be at least 1")]
    [InlineData("-d 16,16", "-d: 16 is given twice")]
    [InlineData("-d -4", "-d: '-4' is not a whole number")]
    [InlineData("-p 99999999999k", "-p: 9223372036854775807 is above 2147483647")]
    [InlineData("--attention bogus", "unknown attention mode 'bogus'")]
    [InlineData("--attention vanilla,bogus", "unknown attention mode 'bogus'")]
    [InlineData("--backend ilgpu-cpu -t 1", "-t applies to the cpu backend only")]
    [InlineData("--prefill-chunk 0", "--prefill-chunk must be in")]
    [InlineData("--from x.json", "give --model to run a benchmark or --from")]
    // 2^26 tokens of 32 floats per layer are past the 2^31-float buffers a vanilla cache can hold; checked before any work.
    [InlineData("-d 65536k", "does not fit under vanilla attention")]
    public void BadValue_IsOneErrorLine_Exit2(string flags, string message)
    {
        // Tiny sizes for the flags the case does not set (a case that failed to fail would then finish quickly).
        string[] given = flags.Split(' ');
        string[] defaults = new[] { ("-p", "8"), ("-n", "4"), ("-r", "2") }.Where(f => !given.Contains(f.Item1)).SelectMany(f => new[] { f.Item1, f.Item2 }).ToArray();
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, .. defaults, .. given]);
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith("longlm: error: ", err);
        Assert.Contains(message, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => !l.Contains("warning"));
    }

    [Fact]
    public void UnknownFormat_MissingModel_AndMissingFromFile_AreExit2()
    {
        var format = CliRunner.Run("bench", "-m", Stories, "-o", "xml");
        Assert.Equal(2, format.Exit);
        Assert.Contains("xml", format.Err);

        var none = CliRunner.Run("bench", "-p", "8");
        Assert.Equal(2, none.Exit);
        Assert.Contains("--model is required", none.Err);

        var missing = CliRunner.Run("bench", "-m", "/nonexistent/model", "-p", "8", "-n", "4", "-r", "1");
        Assert.Equal(2, missing.Exit);
        Assert.Contains("model folder not found", missing.Err);

        var from = CliRunner.Run("bench", "--from", _dir.File("none.json"));
        Assert.Equal(2, from.Exit);
        Assert.Contains("not found", from.Err);

        string bad = _dir.WriteText("bad.json", "{\"not\": \"rows\"}");
        var notRows = CliRunner.Run("bench", "--from", bad);
        Assert.Equal(2, notRows.Exit);
        Assert.Contains("not a `longlm bench -o json` file", notRows.Err);
    }

    private static string[] Cells(string line) => line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToArray();
}
