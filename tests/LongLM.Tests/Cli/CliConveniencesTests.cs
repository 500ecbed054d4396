using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using LongLM.Cli.Commands;

namespace LongLM.Tests.Cli;

/// <summary>
/// The llama.cpp-style conveniences: prompt from stdin or a file, --threads, --timings, generation_config.json's
/// max_new_tokens and sampling defaults, and progress only on a terminal.
/// </summary>
public sealed class CliConveniencesTests : IDisposable
{
    private static string Stories => ModelFolderCopy.Stories260K;
    private const string Prompt = "Once upon a time";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>In-process run with <paramref name="stdin"/> as a piped standard input (null: a terminal, nothing piped).</summary>
    private static (int Exit, string Out, string Err) Run(string? stdin, params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = LongLM.Cli.Program.Run(args, stdin is null ? TextReader.Null : new StringReader(stdin), stdin is not null, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The real executable (Main, Console streams) with stdin, stdout and stderr all redirected.</summary>
    private static (int Exit, string Out, string Err) RunProcess(string stdin, params string[] args)
    {
        string host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h ? h : "dotnet";
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "longlm.dll"));
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("longlm did not exit within 120 s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string[] Greedy(params string[] more) => ["generate", "--model", Stories, "--max-tokens", "20", "--temperature", "0", "--json", .. more];

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static JsonElement Json(string output) => JsonDocument.Parse(output).RootElement.Clone();

    // --- prompt sources -------------------------------------------------------------------------------------------

    [Fact]
    public void PipedStdin_WithNoPrompt_EqualsPromptFlag()
    {
        // Old code: stdin was never read, so the prompt was just BOS (prompt_ids [1]).
        var flag = Run(null, Greedy("--prompt", Prompt));
        var piped = Run(Prompt + "\n", Greedy());
        Assert.True(piped.Exit == 0, piped.Err);
        Assert.Equal(flag.Out, piped.Out);
        Assert.True(Ints(Json(piped.Out).GetProperty("prompt_ids")).Length > 1);
    }

    [Fact]
    public void PromptDash_ReadsStdin()
    {
        var flag = Run(null, Greedy("--prompt", Prompt));
        var dash = Run(Prompt, Greedy("--prompt", "-"));
        Assert.True(dash.Exit == 0, dash.Err);
        Assert.Equal(flag.Out, dash.Out);
    }

    [Fact]
    public void TerminalStdin_WithNoPrompt_KeepsTheEmptyPrompt()
    {
        var (exit, output, err) = Run(null, Greedy());
        Assert.True(exit == 0, err);
        Assert.Equal([1], Ints(Json(output).GetProperty("prompt_ids")));
    }

    [Fact]
    public void PromptFlag_WinsOverPipedStdin()
    {
        var flag = Run(null, Greedy("--prompt", Prompt));
        var both = Run("something else entirely", Greedy("--prompt", Prompt));
        Assert.Equal(flag.Out, both.Out);
    }

    [Fact]
    public void RealProcess_PipedStdin_EqualsPromptFlag()
    {
        // `echo "Once upon a time" | longlm generate --model DIR`: through Main's Console.IsInputRedirected and its UTF-8 reader.
        var flag = Run(null, Greedy("--prompt", Prompt));
        var piped = RunProcess(Prompt + "\n", Greedy());
        Assert.True(piped.Exit == 0, piped.Err);
        Assert.Equal(flag.Out, piped.Out);
        Assert.Equal("", piped.Err);
    }

    [Fact]
    public void PromptFile_EqualsPromptFlag()
    {
        // Old code: --prompt-file was an unknown option (exit 2).
        var flag = Run(null, Greedy("--prompt", Prompt));
        string plain = _dir.WriteText("prompt.txt", Prompt + "\n");
        string withBom = _dir.Write("bom.txt", [.. Encoding.UTF8.Preamble, .. Encoding.UTF8.GetBytes(Prompt + "\r\n")]);
        foreach (string file in new[] { plain, withBom })
        {
            var fromFile = Run(null, Greedy("--prompt-file", file));
            Assert.True(fromFile.Exit == 0, fromFile.Err);
            Assert.Equal(flag.Out, fromFile.Out);
        }
    }

    [Fact]
    public void PromptFile_OverTheLimit_IsRefusedBeforeReading()
    {
        string path = _dir.File("huge.txt");
        using (var f = File.Create(path)) f.SetLength(PromptInput.MaxBytes + 1L); // sparse: no disk, no reading
        var (exit, output, err) = Run(null, Greedy("--prompt-file", path));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("16 MiB", err);
        Assert.Contains("prompt file limit", err);
    }

    [Fact]
    public void Stdin_OverTheLimit_IsRefused()
    {
        var (exit, _, err) = Run(new string('a', PromptInput.MaxBytes + 1), Greedy());
        Assert.Equal(2, exit);
        Assert.Contains("over 16 MiB", err);
    }

    [Fact]
    public void PromptFile_BadUtf8OrMissing_IsOneUsageError()
    {
        string bad = _dir.Write("bad.txt", [0x4F, 0x6E, 0xFF, 0x63, 0x65]);
        var invalid = Run(null, Greedy("--prompt-file", bad));
        Assert.Equal(2, invalid.Exit);
        Assert.Contains("not valid UTF-8", invalid.Err);
        var missing = Run(null, Greedy("--prompt-file", _dir.File("absent.txt")));
        Assert.Equal(2, missing.Exit);
        Assert.Contains("prompt file not found", missing.Err);
    }

    [Fact]
    public void ConflictingPromptSources_AreOneUsageError()
    {
        string file = _dir.WriteText("prompt.txt", Prompt);
        foreach (string prompt in new[] { Prompt, "-" })
        {
            var (exit, output, err) = Run(Prompt, Greedy("--prompt", prompt, "--prompt-file", file));
            Assert.Equal(2, exit);
            Assert.Equal("", output);
            string line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("longlm: error: give one prompt source", line);
        }
    }

    // --- --threads ------------------------------------------------------------------------------------------------

    [Fact]
    public void ThreadsOne_GivesTheSameOutputAsEveryCore_AndReachesTheBackend()
    {
        var every = Run(null, Greedy("--prompt", Prompt));
        var one = Run(null, Greedy("--prompt", Prompt, "--threads", "1", "--verbose"));
        Assert.True(one.Exit == 0, one.Err);
        Assert.Equal(every.Out, one.Out);
        // The line is read back from the loaded model's backend: the flag reached the CpuBackend it runs on.
        Assert.Contains("longlm: backend cpu, threads 1", one.Err);
        Assert.Contains($"longlm: backend cpu, threads {Environment.ProcessorCount}", Run(null, Greedy("--prompt", Prompt, "--verbose")).Err);

        string a = _dir.File("a.json"), b = _dir.File("b.json");
        Assert.Equal(0, Run(null, "logits", "--model", Stories, "--prompt", Prompt, "--out", a).Exit);
        Assert.Equal(0, Run(null, "logits", "--model", Stories, "--prompt", Prompt, "--out", b, "--threads", "1").Exit);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1025")]
    [InlineData("-3")]
    public void Threads_OutOfRange_IsAUsageError(string threads)
    {
        var (exit, output, err) = Run(null, Greedy("--prompt", Prompt, "--threads", threads));
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("--threads must be in [1, 1024]", err);
    }

    [Fact]
    public void Threads_WithAnotherBackend_IsAUsageError()
    {
        var (exit, _, err) = Run(null, Greedy("--prompt", Prompt, "--threads", "2", "--backend", "ilgpu-cpu"));
        Assert.Equal(2, exit);
        Assert.Contains("--threads applies to the cpu backend only", err);
        string text = _dir.WriteText("t.txt", "Once upon a time there was a cat.");
        Assert.Equal(2, Run(null, "ppl", "--model", Stories, "--text", text, "--threads", "2", "--backend", "cuda").Exit);
    }

    // --- --timings ------------------------------------------------------------------------------------------------

    private static readonly Regex s_number = new(@"[0-9]+\.[0-9]{2}", RegexOptions.CultureInvariant);

    [Fact]
    public void Timings_PrintPerfLinesOnStderr_AndNothingExtraOnStdout()
    {
        string[] args = ["generate", "--model", Stories, "--prompt", Prompt, "--max-tokens", "10", "--temperature", "0", "--json"];
        var plain = Run(null, args);
        var timed = Run(null, [.. args, "--timings"]);
        Assert.True(timed.Exit == 0, timed.Err);
        Assert.Equal(plain.Out, timed.Out);
        int promptTokens = Ints(Json(timed.Out).GetProperty("prompt_ids")).Length;
        Assert.Equal(10, Ints(Json(timed.Out).GetProperty("ids")).Length);
        string[] lines = timed.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^longlm_perf: +load time = +[0-9]+\.[0-9]{2} ms$", lines[0]);
        Assert.Matches($@"^longlm_perf: prompt eval time = +[0-9]+\.[0-9]{{2}} ms / +{promptTokens} tokens \( *[0-9.]+ ms per token, +[0-9.]+ tokens per second\)$", lines[1]);
        // 10 tokens at --max-tokens 10: the first nine were fed back (runs), the tenth is returned without a forward.
        Assert.Matches(@"^longlm_perf: +eval time = +[0-9]+\.[0-9]{2} ms / +9 runs +\( *[0-9.]+ ms per token, +[0-9.]+ tokens per second\)$", lines[2]);
        Assert.Matches($@"^longlm_perf: +total time = +[0-9]+\.[0-9]{{2}} ms / +{promptTokens + 9} tokens$", lines[3]);
        // The total covers load, prefill and decode.
        double[] ms = lines.Select(l => double.Parse(s_number.Match(l).Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.True(ms[3] >= ms[0] + ms[1] + ms[2] - 0.05, timed.Err);
    }

    [Fact]
    public void Timings_OnPpl_PrintLoadEvalAndTotal()
    {
        string text = _dir.WriteText("t.txt", string.Concat(Enumerable.Repeat("Once upon a time there was a little cat. ", 30)));
        var plain = Run(null, "ppl", "--model", Stories, "--text", text, "--json");
        var timed = Run(null, "ppl", "--model", Stories, "--text", text, "--json", "--timings");
        Assert.True(timed.Exit == 0, timed.Err);
        // JSON stays one object on stdout (tokens_per_second differs run to run, so compare everything else).
        Assert.Equal(Json(plain.Out).GetProperty("total").GetRawText(), Json(timed.Out).GetProperty("total").GetRawText());
        long count = Json(timed.Out).GetProperty("total").GetProperty("count").GetInt64() + 1; // every token but the first is scored
        string[] lines = timed.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^longlm_perf: +load time = ", lines[0]);
        Assert.Matches($@"^longlm_perf: prompt eval time = +[0-9.]+ ms / +{count} tokens \(", lines[1]);
        Assert.Matches($@"^longlm_perf: +total time = +[0-9.]+ ms / +{count} tokens$", lines[2]);
    }

    // --- generation_config.json -----------------------------------------------------------------------------------

    /// <summary>stories260K plus a generation_config.json (the shared folder has none).</summary>
    private string StoriesWithGenerationConfig(string json)
    {
        ModelFolderCopy.Stories(_dir);
        File.WriteAllText(_dir.File("generation_config.json"), json);
        return _dir.Path;
    }

    [Fact]
    public void MaxNewTokens_FromGenerationConfig_IsTheDefault_AndMaxTokensWins()
    {
        // Greedy from "Once upon a time" runs ", there was a little girl named Lily. She loved to play outside..."
        // with no EOS for well over 7 tokens, so the counts below are the limits, not an early stop.
        // Old code: the default was always 256 (here: far more than 5 ids).
        string dir = StoriesWithGenerationConfig("""{"max_new_tokens": 5, "do_sample": false}""");
        string[] args = ["generate", "--model", dir, "--prompt", Prompt, "--json"];
        var byConfig = Run(null, args);
        Assert.True(byConfig.Exit == 0, byConfig.Err);
        Assert.Equal(5, Ints(Json(byConfig.Out).GetProperty("ids")).Length);
        var explicitFlag = Run(null, [.. args, "--max-tokens", "7"]);
        Assert.Equal(7, Ints(Json(explicitFlag.Out).GetProperty("ids")).Length);
        // Without the file: the old default, 256 at most (here an EOS may come first, but more than 7 do come).
        Assert.True(Ints(Json(Run(null, ["generate", "--model", Stories, "--prompt", Prompt, "--temperature", "0", "--json"]).Out).GetProperty("ids")).Length > 7);
    }

    [Fact]
    public void SamplingDefaults_FromGenerationConfig_AreApplied()
    {
        // Already so before this change (GenerateCommand reads lm.Generation): guarded here against regressions.
        string dir = StoriesWithGenerationConfig("""{"do_sample": true, "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "repetition_penalty": 1.3}""");
        string[] common = ["generate", "--prompt", "Lily", "--max-tokens", "40", "--seed", "7", "--json"];
        var byConfig = Run(null, [.. common, "--model", dir]);
        var byFlags = Run(null, [.. common, "--model", Stories, "--temperature", "1", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--repetition-penalty", "1.3"]);
        var builtIn = Run(null, [.. common, "--model", Stories]);
        Assert.True(byConfig.Exit == 0, byConfig.Err);
        Assert.Equal(byFlags.Out, byConfig.Out);
        Assert.NotEqual(builtIn.Out, byConfig.Out);

        string greedyDir = _dir.File("greedy");
        Directory.CreateDirectory(greedyDir);
        foreach (var f in Directory.GetFiles(Stories)) File.Copy(f, Path.Combine(greedyDir, Path.GetFileName(f)));
        File.WriteAllText(Path.Combine(greedyDir, "generation_config.json"), """{"do_sample": false}""");
        Assert.Equal(Run(null, Greedy("--prompt", "Lily")).Out, Run(null, ["generate", "--model", greedyDir, "--prompt", "Lily", "--max-tokens", "20", "--json"]).Out);
    }

    // --- progress -------------------------------------------------------------------------------------------------

    [Fact]
    public void RealProcess_RedirectedStderr_GetsNoProgress()
    {
        // A prompt whose prefill takes seconds (past the spinner's half-second delay) and a ppl run: with stderr
        // redirected neither a spinner nor a bar may appear, only the --timings lines. (The old code drew ppl's bar on
        // stdout when stdout was a terminal; with both redirected it drew nothing either, so this guards the new code.)
        string corpus = Path.Combine(SharedData.Root, "corpus", "war-and-peace.txt");
        string prompt = _dir.WriteText("long.txt", File.ReadAllText(corpus)[..8000]);
        var gen = RunProcess("", "generate", "--model", Stories, "--prompt-file", prompt, "--lm-infinite", "--max-tokens", "3", "--temperature", "0", "--timings");
        Assert.True(gen.Exit == 0, gen.Err);
        Assert.DoesNotContain('\r', gen.Err.Replace(Environment.NewLine, "\n"));
        Assert.DoesNotContain('\u001b', gen.Err);
        Assert.All(gen.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.StartsWith("longlm_perf:", l));
        Assert.DoesNotContain("prefill of", gen.Out + gen.Err);

        var ppl = RunProcess("", "ppl", "--model", Stories, "--text", prompt, "--lm-infinite");
        Assert.True(ppl.Exit == 0, ppl.Err);
        Assert.Equal("", ppl.Err);
        Assert.DoesNotContain('\u001b', ppl.Out);
        Assert.StartsWith("PPL by position", ppl.Out);
    }

    [Fact]
    public void InProcess_CapturedStreams_NeverShowProgress()
    {
        var io = new LongLM.Cli.CliIO(new StringWriter(), new StringWriter(), verbose: false);
        Assert.False(io.ShowProgress);
        Assert.False(io.InRedirected);
        using (LongLM.Cli.ProgressDisplay.Spinner(io, "prefill")) Thread.Sleep(800);
        Assert.Equal("", io.Err.ToString());
        Assert.Equal(42, LongLM.Cli.ProgressDisplay.WithBar(io, "ppl", 10, progress => progress is null ? 42 : 0));
    }
}
