using LongLM.Runtime.Config;

namespace LongLM.Tests.Runtime;

public sealed class ModelConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Valid = """
        {"architectures":["LlamaForCausalLM"],"model_type":"llama","hidden_size":64,"intermediate_size":172,
         "num_hidden_layers":5,"num_attention_heads":8,"num_key_value_heads":4,"vocab_size":512,
         "max_position_embeddings":512,"rms_norm_eps":1e-05,"rope_theta":10000.0,"tie_word_embeddings":true,
         "bos_token_id":1,"eos_token_id":[2,7],"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0}}
        """;

    private ModelConfig Parse(string json)
    {
        File.WriteAllText(_dir.File("config.json"), json);
        return ModelConfig.Load(_dir.Path);
    }

    [Fact]
    public void Parse_ReadsHfFields()
    {
        var c = Parse(Valid);
        Assert.Equal(64, c.HiddenSize);
        Assert.Equal(4, c.NumKeyValueHeads);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(512, c.MaxPositionEmbeddings);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal([2, 7], c.EosTokenIds);
        Assert.Equal("llama3", c.RopeScaling!.Type);
        Assert.Equal(8.0, c.RopeScaling.Factor);
        Assert.Equal(1.0, c.RopeScaling.Values["low_freq_factor"]);
    }

    [Fact]
    public void Parse_DefaultsKvHeadsToHeadsAndAcceptsAliases()
    {
        var c = Parse("""{"model_type":"x","n_embd":32,"n_head":4,"n_layer":2,"vocab_size":10,"n_positions":128}""");
        Assert.Equal(4, c.NumKeyValueHeads);
        Assert.Equal(128, c.MaxPositionEmbeddings);
        Assert.Equal(10000, c.RopeTheta);
    }

    [Fact]
    public void Bloom_WithoutTrainedLength_Uses2048_AndReadsNEmbed()
    {
        // bigscience/bloom-560m's config.json (abridged): no max_position_embeddings/seq_length, hidden size as n_embed,
        // no tie_word_embeddings (BloomConfig keeps PretrainedConfig's default, tied), n_inner null (BloomMLP is 4 * h).
        var c = Parse("""
            {"architectures":["BloomForCausalLM"],"model_type":"bloom","n_embed":1024,"n_head":16,"n_layer":24,"n_inner":null,
             "vocab_size":250880,"layer_norm_epsilon":1e-05,"apply_residual_connection_post_layernorm":false,"bos_token_id":1,"eos_token_id":2}
            """);
        Assert.Equal(ModelConfig.BloomTrainedLength, c.MaxPositionEmbeddings);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal(1024, c.HiddenSize);
        Assert.Equal(4096, c.IntermediateSize);
        Assert.Equal(64, c.HeadDim);
        Assert.True(c.TieWordEmbeddings);
    }

    [Fact]
    public void Bloom_SeqLength_IsTheTrainedLength()
    {
        var c = Parse("""{"model_type":"bloom","hidden_size":64,"n_head":4,"n_layer":2,"vocab_size":10,"seq_length":512}""");
        Assert.Equal(512, c.MaxPositionEmbeddings);
    }

    [Fact]
    public void Mpt_ReadsMptNames_MlpWidthFromExpansionRatio_TiedByDefault()
    {
        var c = Parse("""
            {"architectures":["MPTForCausalLM"],"model_type":"mpt","d_model":4096,"n_heads":32,"n_layers":32,"expansion_ratio":4,
             "max_seq_len":2048,"vocab_size":50432,"no_bias":true,"attn_config":{"alibi":true,"alibi_bias_max":8}}
            """);
        Assert.Equal(4096, c.HiddenSize);
        Assert.Equal(16384, c.IntermediateSize);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal(128, c.HeadDim);
        Assert.True(c.TieWordEmbeddings);
    }

    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("vocab_size")]
    [InlineData("max_position_embeddings")]
    public void MissingRequiredField_NamesFileAndField(string field)
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(Valid)!.AsObject();
        json.Remove(field);
        var e = Assert.Throws<ConfigException>(() => Parse(json.ToJsonString()));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData("""{"model_type":"llama","hidden_size":"big"}""", "hidden_size")]
    [InlineData("""{"model_type":"llama","hidden_size":64,"num_attention_heads":6,"num_hidden_layers":1,"vocab_size":5,"max_position_embeddings":8}""", "divisible")]
    [InlineData("""{"model_type":"llama","hidden_size":64,"num_attention_heads":8,"num_key_value_heads":3,"num_hidden_layers":1,"vocab_size":5,"max_position_embeddings":8}""", "multiple")]
    [InlineData("""{"model_type":"llama","hidden_size":-64,"num_attention_heads":8,"num_hidden_layers":1,"vocab_size":5,"max_position_embeddings":8}""", "positive")]
    [InlineData("""{not json""", "not valid JSON")]
    [InlineData("""[1,2]""", "not a JSON object")]
    public void BadValues_AreClearErrors(string json, string phrase)
    {
        var e = Assert.Throws<ConfigException>(() => Parse(json));
        Assert.Contains(phrase, e.Message);
    }

    [Fact]
    public void MissingFile_IsClearError()
    {
        var e = Assert.Throws<ConfigException>(() => ModelConfig.Load(_dir.Path));
        Assert.Contains("config.json", e.Message);
    }

    [Fact]
    public void GenerationConfig_ReadsDecodingDefaults()
    {
        File.WriteAllText(_dir.File("generation_config.json"), """{"do_sample":true,"temperature":0.6,"top_p":0.9,"eos_token_id":[128001,128009]}""");
        var g = GenerationConfig.Load(_dir.Path)!;
        Assert.True(g.DoSample);
        Assert.Equal(0.6, g.Temperature);
        Assert.Equal([128001, 128009], g.EosTokenIds);
    }
}
