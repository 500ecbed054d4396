using LongLM.Runtime.Config;

namespace LongLM.Models.Bloom;

/// <summary>BloomConfig's reading of config.json: the fields where it differs from the common HF names.</summary>
public static class BloomConfig
{
    /// <summary>BLOOM's training sequence length (all BLOOM sizes were trained on 2048 tokens; bigscience/bloom says seq_length 2048).</summary>
    public const int TrainedLength = 2048;

    /// <summary>
    /// ModelRegistry's ReadConfig hook for BLOOM: the hidden size is "n_embed" when present (BloomConfig prefers it
    /// over hidden_size), the MLP is 4 x hidden whatever n_inner says (BloomMLP), the trained length defaults to
    /// <see cref="TrainedLength"/> (released configs mostly carry none), and the head is tied unless
    /// tie_word_embeddings says otherwise (PretrainedConfig's default).
    /// </summary>
    public static ModelConfig ReadConfig(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        int hidden = raw.Int("n_embed") ?? config.HiddenSize;
        int heads = config.NumAttentionHeads;
        int headDim = raw.Int("head_dim") ?? (hidden % heads == 0 ? hidden / heads
            : throw raw.Error($"hidden_size {hidden} is not divisible by n_head {heads}"));
        if (4L * hidden > ModelConfig.MaxWidth) throw raw.Error($"4 x hidden_size = {4L * hidden} exceeds the limit {ModelConfig.MaxWidth}");
        return config with
        {
            HiddenSize = hidden,
            HeadDim = headDim,
            IntermediateSize = 4 * hidden,
            MaxPositionEmbeddings = config.MaxPositionEmbeddings > 0 ? config.MaxPositionEmbeddings : TrainedLength,
            TieWordEmbeddings = raw.Bool("tie_word_embeddings") ?? true,
        };
    }
}
