using System.Text.Json;
using static LongLM.Tests.Tokenization.TokenizerTestData;

namespace LongLM.Tests.Tokenization;

/// <summary>
/// The GPT-NeoX / Pythia tokenizer.json: array-form merges, a plain ByteLevel pre-tokenizer (GPT-2 regex),
/// an NFC normaliser and added tokens for runs of spaces. There are no recorded ids for it, so expected ids
/// are looked up in tokenizer.json itself.
/// </summary>
public sealed class GptNeoxTokenizerTests
{
    private static readonly Lazy<JsonDocument> s_json = new(() =>
        JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ModelDir(GptNeox), "tokenizer.json"))));

    private static int VocabId(string token) => s_json.Value.RootElement.GetProperty("model").GetProperty("vocab").GetProperty(token).GetInt32();

    private static int AddedId(string content) => s_json.Value.RootElement.GetProperty("added_tokens").EnumerateArray()
        .Single(t => t.GetProperty("content").GetString() == content).GetProperty("id").GetInt32();

    [Fact]
    public void Load_IsByteLevelBpeWithVocabularyUpToLastAddedToken()
    {
        // tokenizer.json: model.vocab holds ids 0..50253, added_tokens run up to "[PAD]" = 50277.
        var tokenizer = Load(GptNeox);
        Assert.Equal("bpe", tokenizer.Kind);
        Assert.Equal(AddedId("[PAD]") + 1, tokenizer.VocabSize);
    }

    [Fact]
    public void Encode_HelloWorld_GivesTheWholeWordTokensOfTheVocabulary()
    {
        // Expected ids read from tokenizer.json's model.vocab ("Ġ" is the byte-level space): each of these words
        // is one vocabulary entry, so BPE must end on it.
        int[] expected = [VocabId("Hello"), VocabId(","), VocabId("Ġworld"), VocabId("!")];
        Assert.Equal(expected, Load(GptNeox).Encode("Hello, world!"));
    }

    [Theory]
    [InlineData("Hello, world!")]
    [InlineData("The quick brown fox jumps over the lazy dog.")]
    [InlineData("  leading spaces and\ttabs\nnewlines\n\n")]
    [InlineData("def f(x):\n        return x**2  # eight spaces of indent")]
    [InlineData("Unicode: café naïve 日本語 🤖 emoji")]
    [InlineData("I'm sure they'll've done it")]
    [InlineData("")]
    public void DecodeOfEncode_GivesBackTheText(string text)
    {
        // Byte-level BPE is lossless for NFC text (all of these are NFC).
        var tokenizer = Load(GptNeox);
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Encode_EndOfTextInText_IsTheSpecialToken()
    {
        // tokenizer.json added_tokens: "<|endoftext|>" is special id 0; special tokens are matched whole before BPE.
        int endOfText = AddedId("<|endoftext|>");
        var tokenizer = Load(GptNeox);
        Assert.Equal([endOfText], tokenizer.Encode("<|endoftext|>"));
        int[] ids = tokenizer.Encode("a<|endoftext|>b");
        Assert.Equal([VocabId("a"), endOfText, VocabId("b")], ids);
    }

    [Fact]
    public void Encode_RunOfSpaces_IsTheLongestMatchingAddedToken()
    {
        // tokenizer.json added_tokens: runs of 2..24 spaces (normalized, not special) are matched like special
        // tokens, leftmost-longest, before pre-tokenization (HF AddedVocabulary).
        int tenSpaces = AddedId(new string(' ', 10));
        var tokenizer = Load(GptNeox);
        Assert.Equal([VocabId("a"), tenSpaces, VocabId("b")], tokenizer.Encode("a" + new string(' ', 10) + "b"));
        Assert.Equal("a" + new string(' ', 10) + "b", tokenizer.Decode([VocabId("a"), tenSpaces, VocabId("b")]));
    }
}
