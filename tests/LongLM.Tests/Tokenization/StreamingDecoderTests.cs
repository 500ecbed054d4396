using static LongLM.Tests.Tokenization.TokenizerTestData;

namespace LongLM.Tests.Tokenization;

/// <summary>Streaming decoding: the pieces of one id at a time add up to the batch decode, byte for byte.</summary>
public sealed class StreamingDecoderTests
{
    private const string UnicodeText = "Unicode: café naïve 日本語 🤖 emoji";

    public static TheoryData<string> AllTokenizers => new() { Stories260K, Llama2, Llama3, GptNeox };

    public static TheoryData<string> RecordedTokenizers => new() { Stories260K, Llama2, Llama3 };

    [Theory]
    [MemberData(nameof(RecordedTokenizers))]
    public void Unicode_PiecesConcatenateToDecode_AndWaitForIncompleteCharacters(string model)
    {
        // Ids from tokenizer-expected.json (sentencepiece for the SentencePiece models, transformers.js for
        // llama3). The emoji and CJK characters come as several byte tokens, so some pushes must return "".
        var tokenizer = Load(model);
        int[] ids = ExpectedCases(model).Single(c => c.Text == UnicodeText).Ids;
        var pieces = Stream(tokenizer, ids);
        Assert.Equal(tokenizer.Decode(ids), string.Concat(pieces));
        Assert.Equal(UnicodeText, string.Concat(pieces));
        Assert.Contains("", pieces.Take(ids.Length));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD', StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(RecordedTokenizers))]
    public void EveryExpectedCase_WithBos_PiecesConcatenateToDecode(string model)
    {
        // Texts from tokenizer-expected.json, encoded with BOS so the SentencePiece leading-space rule sees
        // a control token first, as it does in generation.
        var tokenizer = Load(model);
        foreach (var (text, _) in ExpectedCases(model))
        {
            int[] ids = tokenizer.Encode(text, addBos: true);
            Assert.Equal(tokenizer.Decode(ids), string.Concat(Stream(tokenizer, ids)));
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [Theory]
    [InlineData(Stories260K)]
    [InlineData(Llama2)]
    public void SentencePiece_FirstPieceLosesOneLeadingSpace_InStreamAsInDecode(string model)
    {
        // sentencepiece's decode strips the dummy-prefix space of the first piece only: "▁Hello" -> "Hello",
        // while "▁world" later keeps its space. BOS decodes to nothing and does not count as text.
        var tokenizer = Load(model);
        int[] ids = tokenizer.Encode("Hello world", addBos: true);
        var pieces = Stream(tokenizer, ids);
        Assert.Equal("", pieces[0]);
        Assert.Equal("Hello world", string.Concat(pieces));
        Assert.False(pieces[1].StartsWith(' '));
    }

    [Theory]
    [MemberData(nameof(AllTokenizers))]
    public void GeneratedLookingIds_PiecesConcatenateToDecode(string model)
    {
        // No reference here: any id sequence, even one that splits or corrupts UTF-8, must stream to what
        // Decode gives for the whole sequence.
        var tokenizer = Load(model);
        var random = new Random(1234);
        int[] ids = Enumerable.Range(0, 2000).Select(_ => random.Next(tokenizer.VocabSize)).ToArray();
        Assert.Equal(tokenizer.Decode(ids), string.Concat(Stream(tokenizer, ids)));
    }

    [Fact]
    public void SentencePiece_IncompleteByteRun_FlushesOneReplacementPerByte()
    {
        // sentencepiece maps each byte of an invalid or unfinished byte run to U+FFFD (ProcessBytePieces).
        // Llama 2 pieces <0xE6> and <0x97> are ids 3 + 0xE6 and 3 + 0x97 (bytes follow <unk>, <s>, </s>).
        var tokenizer = Load(Llama2);
        int[] ids = [3 + 0xE6, 3 + 0x97];
        var decoder = tokenizer.CreateStreamingDecoder();
        Assert.Equal("", decoder.Push(ids[0]));
        Assert.Equal("", decoder.Push(ids[1]));
        Assert.Equal("\uFFFD\uFFFD", decoder.Flush());
        Assert.Equal("\uFFFD\uFFFD", tokenizer.Decode(ids));
    }

    [Fact]
    public void Bpe_UnfinishedCharacterAtEnd_FlushesOneReplacementLikeFromUtf8Lossy()
    {
        // tokenizer-expected.json (transformers.js): " 🤖" is ids 11410, 97, 244, the emoji's bytes F0 9F A4 96
        // spread over them. Without 244, F0 9F A4 is one unfinished sequence: HF's String::from_utf8_lossy
        // writes one U+FFFD for it.
        var tokenizer = Load(Llama3);
        var decoder = tokenizer.CreateStreamingDecoder();
        Assert.Equal(" ", decoder.Push(11410));
        Assert.Equal("", decoder.Push(97));
        Assert.Equal("\uFFFD", decoder.Flush());
        Assert.Equal(" \uFFFD", tokenizer.Decode([11410, 97]));
    }
}
