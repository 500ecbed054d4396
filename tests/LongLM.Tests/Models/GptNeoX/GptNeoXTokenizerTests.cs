using System.Text.Json;
using LongLM.Runtime.Tokenization;

namespace LongLM.Tests.Models.GptNeoX;

/// <summary>
/// The real GPT-NeoX / Pythia tokenizer (shared/models/gpt-neox-tokenizer: byte-level BPE, NFC, 50254 merges' vocab plus
/// the whitespace-run added tokens 50254-50276) tokenizes as HF does. Expected ids: golden/gpt_neox_tokenizer_ids.json,
/// written by tools/reference/chat-ids/tokenize_ref.mjs (@lenml/tokenizers, transformers.js' tokenizers) from
/// data/tokenize/gpt_neox_texts.json. A model fixture with a 50k vocabulary would be 13 MB of random weights for no
/// extra check, so only the tokenizer folder is loaded.
/// </summary>
public sealed class GptNeoXTokenizerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<int> Cases() => [.. Enumerable.Range(0, 8)];

    private static (string Text, int[] Ids) Case(int index)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "gpt_neox_tokenizer_ids.json")));
        var c = doc.RootElement.GetProperty("cases")[index];
        return (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    private ModelTokenizer Tokenizer()
    {
        string source = Path.Combine(SharedData.Root, "models", "gpt-neox-tokenizer");
        foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(_dir.Path, Path.GetFileName(file)), overwrite: true);
        return ModelTokenizer.Load(_dir.Path);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encode_MatchesTransformersJs_AndDecodesBack(int index)
    {
        var (text, ids) = Case(index);
        var tokenizer = Tokenizer();
        Assert.False(tokenizer.AddBos); // add_bos_token false, post-processor adds nothing
        Assert.Equal(ids, tokenizer.Encode(text));
        // LongLM's Decode is for display and drops special tokens (<|endoftext|>); the rest decodes back exactly.
        Assert.Equal(text.Replace("<|endoftext|>", ""), tokenizer.Decode(ids));
    }
}
