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

    /// <summary>config.json as the model's family reads it (the common names, then the family's ReadConfig).</summary>
    private ModelConfig ParseForFamily(string json)
    {
        File.WriteAllText(_dir.File("config.json"), json);
        return LongLM.Models.ModelRegistry.LoadConfig(_dir.Path);
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
        var c = ParseForFamily("""
            {"architectures":["BloomForCausalLM"],"model_type":"bloom","n_embed":1024,"n_head":16,"n_layer":24,"n_inner":null,
             "vocab_size":250880,"layer_norm_epsilon":1e-05,"apply_residual_connection_post_layernorm":false,"bos_token_id":1,"eos_token_id":2}
            """);
        Assert.Equal(LongLM.Models.Bloom.BloomConfig.TrainedLength, c.MaxPositionEmbeddings);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal(1024, c.HiddenSize);
        Assert.Equal(4096, c.IntermediateSize);
        Assert.Equal(64, c.HeadDim);
        Assert.True(c.TieWordEmbeddings);
    }

    [Fact]
    public void Bloom_SeqLength_IsTheTrainedLength()
    {
        var c = ParseForFamily("""{"model_type":"bloom","hidden_size":64,"n_head":4,"n_layer":2,"vocab_size":10,"seq_length":512}""");
        Assert.Equal(512, c.MaxPositionEmbeddings);
    }

    [Fact]
    public void Mpt_ReadsMptNames_MlpWidthFromExpansionRatio_TiedByDefault()
    {
        var c = ParseForFamily("""
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
        var e = Assert.Throws<ConfigException>(() => ParseForFamily(json.ToJsonString()));
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

    [Fact]
    public void NonUtf8ConfigJson_IsAConfigError()
    {
        // 0xFF inside model_type: System.Text.Json parses it and throws InvalidOperationException on the first read.
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(Valid.Replace("\"llama\"", "\"ll#ama\""));
        bytes[Array.IndexOf(bytes, (byte)'#')] = 0xFF;
        File.WriteAllBytes(_dir.File("config.json"), bytes);
        var e = Assert.Throws<ConfigException>(() => ModelConfig.Load(_dir.Path));
        Assert.Contains("config.json: not valid UTF-8", e.Message);
    }

    [Fact]
    public void UnpairedSurrogateEscape_IsAConfigError()
    {
        // "\ud800" is valid JSON and valid UTF-8 but no text: reading it threw InvalidOperationException.
        var e = Assert.Throws<ConfigException>(() => Parse(Valid.Replace("\"llama\"", "\"\\ud800\"")));
        Assert.Contains("invalid string", e.Message);
    }

    [Theory]
    [InlineData("\"rope_theta\":10000.0", "\"rope_theta\":1e400", "'rope_theta' must be a finite number, found 1e400")]
    [InlineData("\"factor\":8.0", "\"factor\":-1e400", "'rope_scaling.factor' must be a finite number")]
    [InlineData("\"low_freq_factor\":1.0", "\"low_freq_factor\":1e999", "'rope_scaling.low_freq_factor' must be a finite number")]
    public void NumberOverflowingDouble_IsAConfigError(string from, string to, string phrase)
    {
        // 1e400 is valid JSON; as a double it is infinity, which passed "rope_theta > 0" before.
        var e = Assert.Throws<ConfigException>(() => Parse(Valid.Replace(from, to)));
        Assert.Contains(phrase, e.Message);
    }

    [Theory]
    [InlineData("\"vocab_size\":512", "\"vocab_size\":2000000000", "vocab_size = 2000000000 exceeds the limit 16777216")]
    [InlineData("\"hidden_size\":64", "\"hidden_size\":64,\"head_dim\":1000000000", "num_attention_heads x head_dim = 8000000000 exceeds the limit 1048576")]
    [InlineData("\"num_hidden_layers\":5", "\"num_hidden_layers\":100000", "num_hidden_layers = 100000 exceeds the limit 4096")]
    [InlineData("\"intermediate_size\":172", "\"intermediate_size\":2000000000", "intermediate_size = 2000000000 exceeds the limit 1048576")]
    public void AbsurdSize_IsRefusedAtParse(string from, string to, string phrase)
    {
        // Limits from ModelConfig.MaxVocabSize, MaxWidth, MaxLayers (each well above any released model).
        var e = Assert.Throws<ConfigException>(() => Parse(Valid.Replace(from, to)));
        Assert.Contains(phrase, e.Message);
    }

    [Fact]
    public void MptExpansionRatioOverflowingInt_IsRefused()
    {
        // expansion_ratio x d_model = 4.8e10 wrapped around in int arithmetic before.
        var e = Assert.Throws<ConfigException>(() => ParseForFamily("""
            {"model_type":"mpt","d_model":48,"n_heads":6,"n_layers":2,"expansion_ratio":1000000000,"max_seq_len":64,"vocab_size":320}
            """));
        Assert.Contains("expansion_ratio x d_model = 48000000000 must lie in [1, 1048576]", e.Message);
    }

    [Fact]
    public void PartialRotaryFactorLeavingNoRotaryDims_IsAConfigError()
    {
        // 0.01 x head_dim 8 = 0.08 rotary dims: the RoPE constructor threw ArgumentOutOfRangeException (not a LongLMException).
        var c = Parse(Valid.Replace("\"rope_theta\":10000.0", "\"rope_theta\":10000.0,\"partial_rotary_factor\":0.01"));
        var e = Assert.Throws<ConfigException>(() => LongLM.Runtime.Rope.RopeScaling.Create(c));
        Assert.Contains("partial_rotary_factor 0.01 x head_dim 8 leaves 0 rotary dimensions", e.Message);
    }

    [Fact]
    public async Task HugeHeadDim_FailsFastBeforeAllocating()
    {
        // head_dim 1e9 took 18 s and 3.9 GB (RoPE tables sized by it) before the tensor shape error.
        string dir = ModelFolderCopy.StoriesWithConfig(_dir, t => t.Replace("\"hidden_act\"", "\"head_dim\": 1000000000, \"hidden_act\""));
        var error = await HangGuard.Throws(() => LongLM.Models.LanguageModel.Load(dir).Dispose());
        var typed = Assert.IsType<ConfigException>(error);
        Assert.Contains("head_dim", typed.Message);
    }

    [Fact]
    public void PartialRotaryFactor_FromModelFolder_IsAConfigError()
    {
        string dir = ModelFolderCopy.StoriesWithConfig(_dir, t => t.Replace("\"hidden_act\"", "\"partial_rotary_factor\": 0.01, \"hidden_act\""));
        var e = Assert.Throws<ConfigException>(() => LongLM.Models.LanguageModel.Load(dir).Dispose());
        Assert.Contains("partial_rotary_factor", e.Message);
    }

    [Fact]
    public async Task ClexTimeStepTooSmall_IsRefusedBeforeIntegrating()
    {
        // time_dt 1e-6 asks for 7e6 ODE steps at load (minutes; below the solver's own 2^24-point cap); the reference's
        // 0.01 with max_factor 8 takes 700.
        // The CLEX fixture (the tests' seed 3) supplies the ODE tensors.
        string dir = _dir.File("clex");
        LongLM.Models.Fixtures.FixtureWriter.WriteClex(ModelFolderCopy.Stories260K, 3, dir, timeDt: 1e-6);
        var c = ModelConfig.Load(dir);
        using var store = LongLM.Runtime.SafeTensors.WeightStore.Open(dir);
        var error = await HangGuard.Throws(() => LongLM.Runtime.Rope.RopeScaling.Create(c, store));
        var typed = Assert.IsType<ConfigException>(error);
        Assert.Contains("'time_dt' 1E-06 with 'max_factor' 8 needs 7E+06 ODE steps", typed.Message);
    }

    [Theory]
    [InlineData("bloom", "n_head 8 x head_dim 8 must equal hidden_size 48 for BLOOM")]
    [InlineData("mpt", "n_heads 6 x head_dim 16 must equal d_model 48 for MPT")]
    public void AlibiFamily_HeadDimNotDividingTheWidth_IsAConfigError(string family, string phrase)
    {
        // Found by ConfigJsonFuzzTests: a BLOOM config with n_head 8 and head_dim 8 (hidden 48) passed the
        // query_key_value shape check ([3 * 48, 48]) and then failed the per-head split with an ArgumentException.
        // The tiny fixtures: BLOOM 6 heads, MPT 6 heads, hidden 48.
        string dir = _dir.File(family);
        LongLM.Models.Fixtures.FixtureWriter.Write(family, LongLM.Models.Fixtures.FixtureShape.Find(family, "tiny"), LongLM.Kernels.DType.F32, 1, dir);
        string path = Path.Combine(dir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["head_dim"] = family == "bloom" ? 8 : 16;
        if (family == "bloom") json["n_head"] = 8;
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<ConfigException>(() => LongLM.Models.LanguageModel.Load(dir).Dispose());
        Assert.Contains(phrase, e.Message);
    }
}
