using System.Text.Json;
using static LongLM.Tests.Tokenization.TokenizerTestData;

namespace LongLM.Tests.Tokenization;

/// <summary>
/// Each case of the tokenizer-expected.json files in shared/models: encoding without BOS gives exactly the
/// recorded ids, and decoding the recorded ids gives back the text.
/// </summary>
public sealed class ExpectedIdsTests
{
    public static TheoryData<int, string> Stories260KCases => CaseTexts(Stories260K);
    public static TheoryData<int, string> Llama2Cases => CaseTexts(Llama2);
    public static TheoryData<int, string> Llama3Cases => CaseTexts(Llama3);

    [Theory]
    [MemberData(nameof(Stories260KCases))]
    public void SentencePiece_Stories260K_MatchesExpectedIds(int index, string text)
    {
        // Expected ids: "ids produced by Google's sentencepiece (Python) from this tokenizer.model; no BOS added".
        Assert.Contains("sentencepiece", ExpectedSource(Stories260K), StringComparison.Ordinal);
        Assert.Equal(ExpectedCases(Stories260K)[index].Ids, Load(Stories260K).Encode(text, addBos: false));
    }

    [Theory]
    [MemberData(nameof(Stories260KCases))]
    public void SentencePiece_Stories260K_DecodesExpectedIdsToText(int index, string text)
    {
        // Ids from Google's sentencepiece (tokenizer-expected.json "source"); sentencepiece decodes them back to the
        // text exactly, the leading-space cases included: encoding adds one dummy "▁" and decoding strips one.
        Assert.Equal(text, Load(Stories260K).Decode(ExpectedCases(Stories260K)[index].Ids));
    }

    [Theory]
    [MemberData(nameof(Llama2Cases))]
    public void SentencePiece_Llama2_MatchesExpectedIds(int index, string text)
    {
        // Expected ids: "ids produced by Google's sentencepiece (Python) from this tokenizer.model; no BOS added".
        Assert.Contains("sentencepiece", ExpectedSource(Llama2), StringComparison.Ordinal);
        Assert.Equal(ExpectedCases(Llama2)[index].Ids, Load(Llama2).Encode(text, addBos: false));
    }

    [Theory]
    [MemberData(nameof(Llama2Cases))]
    public void SentencePiece_Llama2_DecodesExpectedIdsToText(int index, string text)
    {
        // Ids from Google's sentencepiece (tokenizer-expected.json "source"); byte-fallback pieces (the emoji)
        // must be joined into UTF-8 before they become text.
        Assert.Equal(text, Load(Llama2).Decode(ExpectedCases(Llama2)[index].Ids));
    }

    [Theory]
    [MemberData(nameof(Llama3Cases))]
    public void Bpe_Llama3_MatchesExpectedIds(int index, string text)
    {
        // Expected ids: "ids produced by transformers.js (@lenml/tokenizers) from this tokenizer.json; no BOS added".
        Assert.Contains("transformers.js", ExpectedSource(Llama3), StringComparison.Ordinal);
        Assert.Equal(ExpectedCases(Llama3)[index].Ids, Load(Llama3).Encode(text, addBos: false));
    }

    [Theory]
    [MemberData(nameof(Llama3Cases))]
    public void Bpe_Llama3_DecodesExpectedIdsToText(int index, string text)
    {
        // Ids from transformers.js (tokenizer-expected.json "source"). Byte-level BPE is lossless; transformers'
        // clean_up_tokenization_spaces (set in this tokenizer_config.json) is deliberately not applied.
        Assert.Equal(text, Load(Llama3).Decode(ExpectedCases(Llama3)[index].Ids));
    }

    [Theory]
    [InlineData(" jeho", "\u0120jeho")]
    [InlineData(" Việt", "\u0120Vi\u00E1\u00BB\u0129t")]
    [InlineData("mektedir", "mektedir")]
    public void Bpe_Llama3_IgnoreMerges_WordHeldWholeInVocabularyIsOneToken(string word, string byteLevelSpelling)
    {
        // tokenizer.json sets model.ignore_merges (as tiktoken, which Llama 3 was trained with, does): a pre-token
        // found whole in model.vocab is that one id. Merging these words by rank would split them
        // (" jeho" -> 503, 2701, 78). Expected id: model.vocab in tokenizer.json, under the byte-level spelling.
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(ModelDir(Llama3), "tokenizer.json")));
        int id = json.RootElement.GetProperty("model").GetProperty("vocab").GetProperty(byteLevelSpelling).GetInt32();
        Assert.Equal([id], Load(Llama3).Encode(word, addBos: false));
    }
}
