using System.Collections.Concurrent;
using System.Text.Json;
using LongLM.Runtime.Tokenization;

namespace LongLM.Tests.Tokenization;

/// <summary>The tokenizers in shared/models, loaded once per test run, and their tokenizer-expected.json cases.</summary>
internal static class TokenizerTestData
{
    public const string Stories260K = "stories260K";
    public const string Llama2 = "llama2-tokenizer";
    public const string Llama3 = "llama3-tokenizer";
    public const string GptNeox = "gpt-neox-tokenizer";

    private static readonly ConcurrentDictionary<string, Lazy<ModelTokenizer>> s_tokenizers = new();

    public static string ModelDir(string name) => Path.Combine(SharedData.Root, "models", name);

    /// <summary>The tokenizer of shared/models/<paramref name="name"/> (llama3 takes seconds to build: shared).</summary>
    public static ModelTokenizer Load(string name) =>
        s_tokenizers.GetOrAdd(name, n => new Lazy<ModelTokenizer>(() => ModelTokenizer.Load(ModelDir(n)))).Value;

    /// <summary>(index, text) of each case in tokenizer-expected.json, one theory case each.</summary>
    public static TheoryData<int, string> CaseTexts(string name)
    {
        var data = new TheoryData<int, string>();
        var cases = ExpectedCases(name);
        for (int i = 0; i < cases.Count; i++)
        {
            data.Add(i, cases[i].Text);
        }

        return data;
    }

    /// <summary>The cases of shared/models/<paramref name="name"/>/tokenizer-expected.json (ids without BOS).</summary>
    public static IReadOnlyList<(string Text, int[] Ids)> ExpectedCases(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelDir(name), "tokenizer-expected.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();
    }

    /// <summary>The "source" field of tokenizer-expected.json: who produced the ids.</summary>
    public static string ExpectedSource(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelDir(name), "tokenizer-expected.json")));
        return doc.RootElement.GetProperty("source").GetString()!;
    }

    /// <summary>Pushes every id through a fresh streaming decoder; the pieces, with the final flush last.</summary>
    public static List<string> Stream(ModelTokenizer tokenizer, IEnumerable<int> ids)
    {
        var decoder = tokenizer.CreateStreamingDecoder();
        var pieces = ids.Select(decoder.Push).ToList();
        pieces.Add(decoder.Flush());
        return pieces;
    }
}
