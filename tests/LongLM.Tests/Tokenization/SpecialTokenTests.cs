using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Models.Fixtures;
using LongLM.Runtime.Tokenization;
using static LongLM.Tests.Tokenization.TokenizerTestData;

namespace LongLM.Tests.Tokenization;

/// <summary>BOS/EOS ids, when BOS is prepended, and how special tokens decode.</summary>
public sealed class SpecialTokenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Stories260K_AddsBos1_EosIs2()
    {
        // stories260K/config.json says bos_token_id 1, eos_token_id 2; tokenizer.model's own <s>, </s>.
        var tokenizer = Load(Stories260K);
        Assert.Equal("sentencepiece", tokenizer.Kind);
        Assert.Equal(512, tokenizer.VocabSize);
        Assert.True(tokenizer.AddBos);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
        Assert.Equal([1], tokenizer.Encode(""));
    }

    [Fact]
    public void Llama2_AddsBos1_EosIs2()
    {
        // The Llama 2 tokenizer.model: <unk>=0, <s>=1, </s>=2, 32000 pieces; no tokenizer_config.json.
        var tokenizer = Load(Llama2);
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.True(tokenizer.AddBos);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal(2, tokenizer.EosId);
    }

    [Theory]
    [InlineData(Stories260K)]
    [InlineData(Llama2)]
    [InlineData(Llama3)]
    [InlineData(GptNeox)]
    public void Encode_AddsBosOnlyWhenAsked_AndNeverEos(string model)
    {
        var tokenizer = Load(model);
        int[] plain = tokenizer.Encode("Hello world", addBos: false);
        Assert.NotEqual(tokenizer.BosId, plain[0]);
        Assert.NotEqual(tokenizer.EosId, plain[^1]);
        Assert.Equal(tokenizer.AddBos ? [tokenizer.BosId!.Value, .. plain] : plain, tokenizer.Encode("Hello world"));
        Assert.Equal([tokenizer.BosId!.Value, .. plain], tokenizer.Encode("Hello world", addBos: true));
    }

    [Fact]
    public void Llama3_BosIsBeginOfText_AddedByDefault()
    {
        // llama3-tokenizer/tokenizer_config.json: bos_token "<|begin_of_text|>" (id 128000 in added_tokens),
        // eos_token "<|end_of_text|>" (128001), no add_bos_token. Its post_processor is ByteLevel only, so BOS
        // follows from a configured BOS distinct from EOS, as Meta's reference tokenizer always prepends it.
        var tokenizer = Load(Llama3);
        Assert.Equal("bpe", tokenizer.Kind);
        Assert.Equal(128256, tokenizer.VocabSize);
        Assert.Equal(128000, tokenizer.BosId);
        Assert.Equal(128001, tokenizer.EosId);
        Assert.True(tokenizer.AddBos);
        Assert.Equal(128000, tokenizer.Encode("Hello")[0]);
    }

    [Fact]
    public void GptNeox_ConfigSaysNoBos()
    {
        // gpt-neox-tokenizer/tokenizer_config.json: add_bos_token false; bos = eos = "<|endoftext|>" (id 0).
        var tokenizer = Load(GptNeox);
        Assert.False(tokenizer.AddBos);
        Assert.Equal(0, tokenizer.BosId);
        Assert.Equal(0, tokenizer.EosId);
    }

    [Fact]
    public void Decode_BosAndEosVanish_OtherSpecialTokensStay()
    {
        // llama3 added_tokens: 128000 <|begin_of_text|>, 128001 <|end_of_text|>, 128009 <|eot_id|>.
        var tokenizer = Load(Llama3);
        int[] hello = tokenizer.Encode("Hello", addBos: false);
        Assert.Equal("Hello<|eot_id|>", tokenizer.Decode([128000, .. hello, 128009, 128001]));
        Assert.Equal([128009], tokenizer.Encode("<|eot_id|>", addBos: false));
    }

    [Fact]
    public void SentencePiece_Decode_ControlTokensVanish()
    {
        // Llama 2: <s>=1 and </s>=2 are control pieces; sentencepiece decodes them to nothing.
        var tokenizer = Load(Llama2);
        Assert.Equal("Hello", tokenizer.Decode([1, .. tokenizer.Encode("Hello", addBos: false), 2]));
    }

    [Theory]
    [InlineData(Stories260K)]
    [InlineData(Llama3)]
    public void Decode_IdOutsideVocabulary_Throws(string model)
    {
        var tokenizer = Load(model);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([tokenizer.VocabSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.CreateStreamingDecoder().Push(-1));
    }

    [Fact]
    public void TemplateProcessingThatPrependsBos_AddsBosWithoutConfig()
    {
        // A synthetic byte-level tokenizer (the project's fixture) given Llama 3's later post-processor,
        // TemplateProcessing "<|endoftext|> $A", and no tokenizer_config.json: BOS comes from the template.
        ByteLevelBpeFixture.Write(_dir.Path, 300);
        File.Delete(_dir.File("tokenizer_config.json"));
        int eot = ByteLevelBpeFixture.EndOfTextId(300);
        var json = JsonNode.Parse(File.ReadAllText(_dir.File("tokenizer.json")))!;
        json["post_processor"] = JsonNode.Parse($$$$"""
            {"type": "Sequence", "processors": [
              {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
              {"type": "TemplateProcessing",
               "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [],
               "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [{{{{eot}}}}], "tokens": ["<|endoftext|>"]}}}]}
            """);
        File.WriteAllText(_dir.File("tokenizer.json"), json.ToJsonString());

        var tokenizer = ModelTokenizer.Load(_dir.Path);
        Assert.True(tokenizer.AddBos);
        Assert.Equal(eot, tokenizer.BosId);
        Assert.Equal(eot, tokenizer.Encode("hi")[0]);
    }

    [Fact]
    public void StringMergesAndArrayMerges_GiveTheSameTokenizer()
    {
        // The fixture writes merges as ["a", "b"] pairs; rewriting them as "a b" strings (older files) must not
        // change a single id.
        ByteLevelBpeFixture.Write(_dir.Path, 600);
        const string text = "The quick brown fox, 12 tabs\tand\nnewlines: naïve 日本語.";
        int[] fromArrays = ModelTokenizer.Load(_dir.Path).Encode(text, addBos: false);

        var json = JsonNode.Parse(File.ReadAllText(_dir.File("tokenizer.json")))!;
        var merges = json["model"]!["merges"]!.AsArray();
        var asStrings = new JsonArray(merges.Select(m => (JsonNode?)JsonValue.Create(m![0]!.GetValue<string>() + " " + m[1]!.GetValue<string>())).ToArray());
        json["model"]!["merges"] = asStrings;
        File.WriteAllText(_dir.File("tokenizer.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));

        Assert.Equal(fromArrays, ModelTokenizer.Load(_dir.Path).Encode(text, addBos: false));
        Assert.True(fromArrays.Length < System.Text.Encoding.UTF8.GetByteCount(text), "the merges were applied");
    }
}
