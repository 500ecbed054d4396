using System.Text.Json;
using System.Text.RegularExpressions;
using LongLM.Runtime.Tokenization;

namespace LongLM.Tests.Tokenization;

/// <summary>
/// The build-time regexes of KnownPatterns match exactly what the same pattern compiled at run time matches (the .NET
/// regex engine is the reference; HF's pieces for these tokenizers are checked end to end by ExpectedIdsTests), and the
/// patterns are spelled as the tokenizer files spell them.
/// </summary>
public sealed class KnownPatternsTests
{
    private static readonly string[] Texts =
    [
        File.ReadAllText(Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt")),
        "I'M here, you'LL see: he'S 'd 'Re don't WON'T  x'\u0130s",
        "1234567 89 0.5 3,141 \u0663\u0664\u0665 \u00bd\u2153 x2y22z222",
        "line\r\nnext\n\n\r\r\n  \t tab\tend   ",
        "caf\u00e9 cafe\u0301 \u00fcber \u65e5\u672c\u8a9e\u306e\u6587 \ud83d\ude00\ud83d\udc4d emoji!! ...?! --- __init__",
        "   leading and trailing   ",
        "",
    ];

    [Theory]
    [InlineData(KnownPatterns.Gpt2)]
    [InlineData(KnownPatterns.Llama3)]
    [InlineData(KnownPatterns.Qwen2)]
    public void BuildTimeRegex_MatchesTheRunTimeCompiledOne(string pattern)
    {
        Regex generated = KnownPatterns.Find(pattern) ?? throw new InvalidOperationException("not a known pattern");
        Assert.NotEqual(typeof(Regex), generated.GetType()); // the source generator's subclass, not a run-time compile
        Assert.Equal(PreTokenizerPipeline.MatchTimeout, generated.MatchTimeout);
        var runtime = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled, PreTokenizerPipeline.MatchTimeout);
        foreach (string text in Texts)
        {
            var expected = runtime.Matches(text).Select(m => (m.Index, m.Length)).ToArray();
            var actual = generated.Matches(text).Select(m => (m.Index, m.Length)).ToArray();
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void Llama3TokenizerFile_UsesTheKnownPattern()
    {
        // ../shared/models/llama3-tokenizer/tokenizer.json: pre_tokenizer Sequence [Split(Regex), ByteLevel(use_regex false)].
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(SharedData.Root, "models", "llama3-tokenizer", "tokenizer.json")));
        string pattern = json.RootElement.GetProperty("pre_tokenizer").GetProperty("pretokenizers")[0].GetProperty("pattern").GetProperty("Regex").GetString()!;
        Assert.Equal(KnownPatterns.Llama3, pattern);
        Assert.Same(KnownPatterns.Find(pattern), PreTokenizerPipeline.CreateRegex(pattern));
    }

    [Fact]
    public void OtherPattern_IsCompiledAtRunTime()
    {
        Assert.Null(KnownPatterns.Find(@"\s+"));
        Assert.Equal(typeof(Regex), PreTokenizerPipeline.CreateRegex(@"\s+").GetType());
    }
}
