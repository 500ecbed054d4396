using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Chat;

/// <summary>
/// Stop strings across token boundaries and finish reasons. Expected texts are cut by hand from the input pieces
/// (the matcher's definition: everything before the first complete stop string, nothing after), and on the model from
/// llama2.c's golden greedy ids for stories260K (../shared/models/stories260K/expected_greedy_200.json).
/// </summary>
public sealed class StopSequenceTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    private static (string Text, string? Matched) Feed(string[] stops, params string[] pieces)
    {
        var matcher = new StopSequenceMatcher(stops);
        var text = new System.Text.StringBuilder();
        foreach (var piece in pieces) text.Append(matcher.Push(piece));
        text.Append(matcher.Flush());
        return (text.ToString(), matcher.Matched);
    }

    [Theory]
    [InlineData(new[] { "Hello wor", "ld. The end" }, "Hello ", "world")]          // split over two pieces
    [InlineData(new[] { "a", "b", "c", "w", "o", "r", "l", "d", "x" }, "abc", "world")] // one char per piece
    [InlineData(new[] { "xxworldyy" }, "xx", "world")]                              // inside one piece
    [InlineData(new[] { "wor", "m", "world" }, "worm", "world")]                    // a false start is released
    [InlineData(new[] { "no stop here", " at all" }, "no stop here at all", null)]
    [InlineData(new[] { "ends with wor" }, "ends with wor", null)]                  // a prefix at the end is flushed
    public void Matcher_CutsBeforeTheFirstStopString(string[] pieces, string expected, string? matched)
    {
        var (text, stop) = Feed(["world"], pieces);
        Assert.Equal(expected, text);
        Assert.Equal(matched, stop);
    }

    [Fact]
    public void Matcher_TakesTheEarliestOfSeveral_AndHoldsBackOnlyPossiblePrefixes()
    {
        Assert.Equal(("The ", "cat"), Feed(["dog", "cat"], "The c", "at and the dog"));
        var matcher = new StopSequenceMatcher(["<|im_end|>"]);
        Assert.Equal("Hi ", matcher.Push("Hi <|im"));   // "<|im" may still become the stop string
        Assert.Equal("", matcher.Push("_"));
        Assert.Equal("<|im_x", matcher.Push("x"));    // it did not: released
        Assert.Null(matcher.Matched);
    }

    [Fact]
    public void Session_StopString_EndsTheTextBeforeIt_WithFinishReason()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "expected_greedy_200.json")));
        var greedy = golden.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var lm = LanguageModel.Load(Stories);
        string full = lm.Tokenizer.Decode(greedy);
        // A stop string that starts inside a later token and spans a token boundary: the 3 characters around the
        // boundary between golden tokens 20 and 21.
        int cut = lm.Tokenizer.Decode(greedy[..21]).Length - 1;
        string stop = full.Substring(cut, 3);
        Assert.True(full.IndexOf(stop, StringComparison.Ordinal) == cut, "the stop string must first occur at the cut");
        using var session = lm.CreateSession();
        var options = new GenerationOptions { MaxTokens = 200, Sampling = SamplingOptions.Greedy, StopSequences = [stop] };
        string text = string.Concat(session.GenerateTextAsync([1], options).ToBlockingEnumerable());
        Assert.Equal(full[..cut], text);
        var result = session.LastResult!;
        Assert.Equal(FinishReason.StopSequence, result.Finish);
        Assert.Equal(stop, result.StopSequence);
        Assert.Equal(22, result.GeneratedTokens); // the token that completed the match is the last generated
        Assert.Equal(1, result.PromptTokens);
    }

    [Fact]
    public void Cli_GenerateStop_CutsTheTextAndSaysWhy()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "expected_greedy_200.json")));
        var greedy = golden.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        using var lm = LanguageModel.Load(Stories);
        string full = lm.Tokenizer.Decode(greedy[..60]);
        string stop = full.Substring(full.Length / 2, 4);
        int at = full.IndexOf(stop, StringComparison.Ordinal);
        var (exit, stdout, _) = Cli.CliRunner.Run("generate", "--model", Stories, "--temperature", "0", "-n", "60", "--stop", stop, "--json");
        Assert.Equal(0, exit);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(full[..at], json.GetProperty("text").GetString());
        Assert.Equal("stop_string", json.GetProperty("finish_reason").GetString());
        var (_, plain, _) = Cli.CliRunner.Run("generate", "--model", Stories, "--temperature", "0", "-n", "60", "--stop", stop);
        Assert.Equal(full[..at] + "\n", plain);
        var (_, length, _) = Cli.CliRunner.Run("generate", "--model", Stories, "--temperature", "0", "-n", "5", "--json");
        Assert.Equal("length", JsonDocument.Parse(length).RootElement.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public void Session_FinishReasons_LengthAndStop()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        _ = session.Generate([1], new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy }).ToArray();
        Assert.Equal(FinishReason.Length, session.LastResult!.Finish);
        Assert.Equal(5, session.LastResult.GeneratedTokens);
        session.Reset();
        // Golden token 3 (378) as the stop id: three tokens come out, then the stop id ends it.
        var ids = session.Generate([1], new GenerationOptions { MaxTokens = 50, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int> { 378 } }).ToArray();
        Assert.Equal([403, 407, 261], ids);
        Assert.Equal(FinishReason.Stop, session.LastResult!.Finish);
    }

    [Fact]
    public void Session_ConsumerStoppingEarly_IsCancelled()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        _ = session.Generate([1], new GenerationOptions { MaxTokens = 50, Sampling = SamplingOptions.Greedy }).Take(2).ToArray();
        Assert.Equal(FinishReason.Cancelled, session.LastResult!.Finish);
        Assert.Equal(2, session.LastResult.GeneratedTokens);
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    public void Options_BadStopStrings_AreRefused(string? stop)
    {
        var options = new GenerationOptions { StopSequences = [stop!] };
        Assert.Throws<LongLMException>(options.Validate);
        Assert.Throws<LongLMException>(new GenerationOptions { StopSequences = Enumerable.Repeat("x", 65).ToArray() }.Validate);
        Assert.Throws<LongLMException>(new GenerationOptions { StopSequences = [new string('x', 1025)] }.Validate);
    }
}
