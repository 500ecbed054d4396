namespace LongLM.Tests.Cli;

/// <summary>
/// Hostile model folders and options through `longlm`: each is one line on stderr and exit code 2 (a user error),
/// never exit 1 ("internal error"), a hang or a huge allocation.
/// </summary>
public sealed class HostileInputCliTests : IDisposable
{
    private static string Stories => ModelFolderCopy.Stories260K;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Runs the CLI under the hang guard and checks the one-line, exit-2 convention; returns stderr.</summary>
    private static async Task<string> FailsWithExit2(params string[] args)
    {
        var ((exit, _, err), _) = await HangGuard.Run(() => CliRunner.Run(args));
        Assert.True(exit == 2, $"exit {exit}: {err}");
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("longlm: error:", err);
        Assert.DoesNotContain("internal error", err);
        return err;
    }

    [Theory]
    [InlineData("--top-k-middle", "1000000000", "top-k middle tokens must lie in [0, 64]")]
    [InlineData("--global-tokens", "2000000000", "global tokens G must be at most 65536")]
    public async Task HugeLmInfiniteNumbers_AreUsageErrors(string flag, string value, string phrase)
    {
        // Both died with "internal error: OverflowException" (exit 1) before.
        string err = await FailsWithExit2("generate", "--model", Stories, "--prompt", "Once", "--max-tokens", "2", "--lm-infinite", flag, value);
        Assert.Contains(phrase, err);
    }

    /// <summary>A tiny ALiBi fixture written through the CLI (`make-fixture --family mpt|bloom --shape tiny`).</summary>
    private string AlibiFixture(string family)
    {
        string dir = _dir.File(family);
        if (Directory.Exists(dir)) return dir;
        var (exit, _, err) = CliRunner.Run("make-fixture", "--family", family, "--shape", "tiny", "--dtype", "f32", "--seed", "1", "--out", dir);
        Assert.True(exit == 0, err);
        return dir;
    }

    [Theory]
    [InlineData("mpt", "--rope-scaling", "linear:4")]
    [InlineData("bloom", "--rope-scaling", "yarn:2")]
    [InlineData("mpt", "--clex-extend", null)]
    [InlineData("bloom", "--clex-log-scale", "true")]
    public async Task RotaryOptionsOnAlibiModels_AreRefused(string family, string flag, string? value)
    {
        // ALiBi models have no rotary embedding: these flags changed nothing and exited 0 before.
        string[] option = value is null ? [flag] : [flag, value];
        string err = await FailsWithExit2(["generate", "--model", AlibiFixture(family), "--prompt", "a b", "--max-tokens", "2", "--temperature", "0", .. option]);
        Assert.Contains($"{flag}{(value is null ? "" : " " + value)} does not apply to {family} models", err);
        Assert.Contains("ALiBi", err);
    }

    /// <summary>Characters a terminal acts on, other than the line breaks between lines.</summary>
    private static bool HasRawControl(string text) => text.Any(c => char.IsControl(c) && c is not ('\n' or '\r'));

    [Fact]
    public void Info_ArchitectureWithEscapeSequences_PrintsThemEscaped()
    {
        // A config.json whose architecture string carries ESC [31m (red) and BEL reached the terminal raw before.
        string dir = ModelFolderCopy.StoriesWithConfig(_dir, t => t.Replace("\"LlamaForCausalLM\"", "\"Llama\\u001b[31mRED\\u0007ForCausalLM\""));
        var (exit, output, err) = CliRunner.Run("info", "--model", dir);
        Assert.True(exit == 0, err);
        Assert.False(HasRawControl(output), output);
        Assert.Contains("Llama\\u001b[31mRED\\u0007ForCausalLM", output);

        // JSON escapes control characters itself; the value reads back unchanged.
        var json = CliRunner.Run("info", "--model", dir, "--json");
        Assert.False(HasRawControl(json.Out));
        using var doc = System.Text.Json.JsonDocument.Parse(json.Out);
        Assert.Equal("Llama\u001b[31mRED\u0007ForCausalLM", doc.RootElement.GetProperty("architecture").GetString());
    }

    [Theory]
    [InlineData("info")]
    [InlineData("generate")]
    public async Task ErrorQuotingAFileValue_PrintsControlCharactersEscaped(string command)
    {
        // hidden_act "si<ESC>[2J<NUL>lu": the refusal quotes it; ESC [2J clears the screen, NUL cuts the line short.
        string dir = ModelFolderCopy.StoriesWithConfig(_dir, t => t.Replace("\"silu\"", "\"si\\u001b[2J\\u0000lu\""));
        string err = await FailsWithExit2(command, "--model", dir);
        Assert.False(HasRawControl(err), err);
        Assert.Contains("hidden_act 'si\\u001b[2J\\u0000lu' is not supported", err);
    }

    [Fact]
    public void Escape_KeepsLettersOfAnyScript_EscapesControlsAndBidiOverrides()
    {
        // U+202E (right-to-left override) makes a terminal show the rest of the line reversed.
        Assert.Equal("café 日本 ok", LongLM.Cli.CliIO.Escape("café 日本 ok"));
        Assert.Equal("a\\u202eb\\u0085c\\u007fd\\u000a", LongLM.Cli.CliIO.Escape("a\u202Eb\u0085c\u007Fd\n"));
    }

    [Theory]
    [InlineData("\"hidden_act\"", "\"head_dim\": 1000000000, \"hidden_act\"", "num_attention_heads x head_dim = 8000000000 exceeds the limit")] // 18 s, 3.9 GB before
    [InlineData("\"rope_theta\": 10000.0", "\"rope_theta\": 1e400", "'rope_theta' must be a finite number")]
    [InlineData("\"hidden_act\"", "\"partial_rotary_factor\": 0.01, \"hidden_act\"", "leaves 0 rotary dimensions")]
    [InlineData("\"llama\"", "\"ll\\ud800ama\"", "holds an invalid string")] // exit 1 before
    public async Task HostileConfigJson_IsOneLineExit2(string from, string to, string phrase)
    {
        string dir = ModelFolderCopy.StoriesWithConfig(_dir, t => t.Replace(from, to));
        string err = await FailsWithExit2("generate", "--model", dir, "--max-tokens", "2");
        Assert.Contains("config.json", err);
        Assert.Contains(phrase, err);
    }

    [Fact]
    public async Task NonUtf8ConfigJson_IsOneLineExit2()
    {
        // 0xFF inside "llama": "internal error: InvalidOperationException" (exit 1) before.
        string dir = ModelFolderCopy.Stories(_dir);
        byte[] bytes = File.ReadAllBytes(_dir.File("config.json"));
        int at = System.Text.Encoding.ASCII.GetString(bytes).IndexOf("\"llama\"", StringComparison.Ordinal) + 3;
        bytes[at] = 0xFF;
        File.WriteAllBytes(_dir.File("config.json"), bytes);
        string err = await FailsWithExit2("info", "--model", dir);
        Assert.Contains("config.json: not valid UTF-8", err);
    }

    /// <summary>The llama tiny fixture (byte-level BPE tokenizer.json) with its tokenizer.json edited.</summary>
    private string FixtureWithTokenizer(Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        string dir = _dir.File("fixture");
        var (exit, _, err) = CliRunner.Run("make-fixture", "--family", "llama", "--shape", "tiny", "--dtype", "f32", "--seed", "1", "--out", dir);
        Assert.True(exit == 0, err);
        string path = Path.Combine(dir, "tokenizer.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        return dir;
    }

    [Fact]
    public async Task VocabIdIntMax_IsOneLineExit2()
    {
        // "internal error: IndexOutOfRangeException" (exit 1) before.
        string dir = FixtureWithTokenizer(j => j["model"]!["vocab"]!["a"] = int.MaxValue);
        string err = await FailsWithExit2("tokenize", "--model", dir, "--text", "hi");
        Assert.Contains("tokenizer.json", err);
        Assert.Contains("has the id 2147483647", err);
    }

    [Fact]
    public async Task CatastrophicSplitPattern_IsOneLineExit2()
    {
        // A Split (a+)+$ before the fixture's ByteLevel step: the prompt of 40 a's and a b hung for ever before.
        string dir = FixtureWithTokenizer(j =>
        {
            var byteLevel = j["pre_tokenizer"]!.DeepClone();
            j["pre_tokenizer"] = System.Text.Json.Nodes.JsonNode.Parse("""
                {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a+)+$"}, "behavior": "Isolated", "invert": false}]}
                """);
            j["pre_tokenizer"]!["pretokenizers"]!.AsArray().Add(byteLevel);
        });
        string err = await FailsWithExit2("generate", "--model", dir, "--prompt", new string('a', 40) + "b", "--max-tokens", "2");
        Assert.Contains("tokenizer.json", err);
        Assert.Contains("catastrophic backtracking", err);
    }
}
