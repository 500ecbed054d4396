using System.Text.Json;

namespace LongLM.Runtime.Config;

/// <summary>
/// config.json of a Hugging Face model, with the HF field names (hidden_size -> HiddenSize ...). Optional fields
/// carry HF's defaults; a field a forward cannot do without is a <see cref="ConfigException"/>.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>File this was read from.</summary>
    public required string FilePath { get; init; }
    /// <summary>"architectures", e.g. ["LlamaForCausalLM"].</summary>
    public required string[] Architectures { get; init; }
    /// <summary>"model_type", e.g. "llama".</summary>
    public required string ModelType { get; init; }
    /// <summary>"vocab_size".</summary>
    public required int VocabSize { get; init; }
    /// <summary>"hidden_size" (d_model).</summary>
    public required int HiddenSize { get; init; }
    /// <summary>"intermediate_size" (MLP width); MPT: expansion_ratio * d_model; BLOOM: 4 * hidden_size (fixed in BloomMLP).</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>"num_hidden_layers".</summary>
    public required int NumHiddenLayers { get; init; }
    /// <summary>"num_attention_heads".</summary>
    public required int NumAttentionHeads { get; init; }
    /// <summary>"num_key_value_heads" (defaults to num_attention_heads: multi-head attention).</summary>
    public required int NumKeyValueHeads { get; init; }
    /// <summary>"head_dim" (defaults to hidden_size / num_attention_heads).</summary>
    public required int HeadDim { get; init; }
    /// <summary>"rms_norm_eps" (HF LlamaConfig default 1e-6).</summary>
    public double RmsNormEps { get; init; } = 1e-6;
    /// <summary>"rope_theta" (default 10000).</summary>
    public double RopeTheta { get; init; } = 10000;
    /// <summary>"partial_rotary_factor" (1 = rotate the whole head).</summary>
    public double PartialRotaryFactor { get; init; } = 1;
    /// <summary>"rope_scaling", null when absent or "default".</summary>
    public RopeScalingConfig? RopeScaling { get; init; }
    /// <summary>
    /// The trained context length: "max_position_embeddings" (or n_positions, max_seq_len, seq_length). BLOOM configs
    /// often carry none of these; for model_type "bloom" it is then <see cref="BloomTrainedLength"/>.
    /// </summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>
    /// "tie_word_embeddings": the output head reuses embed_tokens. When absent: false for the Llama family (LlamaConfig's
    /// default), true for MPT and BLOOM (their HF config classes keep PretrainedConfig's default).
    /// </summary>
    public bool TieWordEmbeddings { get; init; }
    /// <summary>"attention_bias": q/k/v/o projections have biases.</summary>
    public bool AttentionBias { get; init; }
    /// <summary>"mlp_bias": gate/up/down projections have biases.</summary>
    public bool MlpBias { get; init; }
    /// <summary>"sliding_window" (Mistral); null when absent.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>"hidden_act" (default silu).</summary>
    public string HiddenAct { get; init; } = "silu";
    /// <summary>"bos_token_id".</summary>
    public int? BosTokenId { get; init; }
    /// <summary>"eos_token_id" (an id or a list).</summary>
    public int[] EosTokenIds { get; init; } = [];
    /// <summary>"torch_dtype" as written ("float32", "bfloat16" ...).</summary>
    public string? TorchDtype { get; init; }
    /// <summary>The parsed JSON, for family-specific fields.</summary>
    public required JsonElement Raw { get; init; }

    /// <summary>BLOOM's training sequence length (all BLOOM sizes were trained on 2048 tokens; bigscience/bloom says seq_length 2048).</summary>
    public const int BloomTrainedLength = 2048;

    /// <summary>
    /// Dimensions rotated per head: int(partial_rotary_factor * head_dim), even, unless a family sets it from its own
    /// field (GPT-J's rotary_dim), which avoids rounding a ratio back into a count.
    /// </summary>
    public int RotaryDim
    {
        get => _rotaryDim ?? (int)(PartialRotaryFactor * HeadDim) / 2 * 2;
        init => _rotaryDim = value;
    }
    private readonly int? _rotaryDim;

    /// <summary>Reads config.json from <paramref name="modelDirectory"/>.</summary>
    public static ModelConfig Load(string modelDirectory) => Parse(Path.Combine(modelDirectory, "config.json"));

    /// <summary>Reads and validates <paramref name="filePath"/>.</summary>
    public static ModelConfig Parse(string filePath)
    {
        var f = JsonFields.Load(filePath);
        string modelType = f.OptionalString("model_type") ?? throw new ConfigException(filePath, "missing required field 'model_type'");
        bool bloom = modelType == "bloom";
        // BLOOM checkpoints spell hidden_size "n_embed", which BloomConfig prefers when both are present.
        int hidden = bloom ? f.RequiredInt("n_embed", "hidden_size") : f.RequiredInt("hidden_size", "n_embd", "d_model");
        int heads = f.RequiredInt("num_attention_heads", "n_head", "n_heads");
        int kvHeads = f.OptionalInt("num_key_value_heads") ?? heads;
        int headDim = f.OptionalInt("head_dim") ?? (heads > 0 && hidden % heads == 0 ? hidden / heads
            : throw new ConfigException(filePath, $"hidden_size {hidden} is not divisible by num_attention_heads {heads}"));
        var config = new ModelConfig
        {
            FilePath = filePath,
            Architectures = f.StringList("architectures"),
            ModelType = modelType,
            VocabSize = f.RequiredInt("vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = IntermediateWidth(f, modelType, hidden),
            NumHiddenLayers = f.RequiredInt("num_hidden_layers", "n_layer", "n_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = f.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = f.OptionalDouble("rope_theta") ?? 10000,
            PartialRotaryFactor = f.OptionalDouble("partial_rotary_factor") ?? 1,
            RopeScaling = ParseRopeScaling(f),
            MaxPositionEmbeddings = bloom
                ? f.OptionalInt("max_position_embeddings", "n_positions", "max_seq_len", "seq_length") ?? BloomTrainedLength
                : f.RequiredInt("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"),
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? modelType is "mpt" or "bloom",
            AttentionBias = f.OptionalBool("attention_bias") ?? false,
            MlpBias = f.OptionalBool("mlp_bias") ?? false,
            SlidingWindow = f.OptionalInt("sliding_window"),
            HiddenAct = f.OptionalString("hidden_act") ?? "silu",
            BosTokenId = f.OptionalInt("bos_token_id"),
            EosTokenIds = f.IntOrIntList("eos_token_id"),
            TorchDtype = f.OptionalString("torch_dtype"),
            Raw = f.Root,
        };
        config.Validate();
        return config;
    }

    /// <summary>
    /// Widest hidden_size, intermediate_size and num_attention_heads x head_dim accepted: 2^20, about 20 times the
    /// widest released model (Llama 3.1 405B: intermediate 53248). Sizes are checked against these limits before
    /// anything is allocated from them, and against the tensors' shapes before anything else is.
    /// </summary>
    public const int MaxWidth = 1 << 20;
    /// <summary>Largest vocab_size accepted: 2^24, 64 times the largest released vocabularies (262144, Gemma 3).</summary>
    public const int MaxVocabSize = 1 << 24;
    /// <summary>Most num_hidden_layers accepted: 4096, 32 times the deepest released model (126, Llama 3.1 405B).</summary>
    public const int MaxLayers = 1 << 12;

    /// <summary>The MLP width: BloomMLP is 4 * hidden whatever n_inner says; MptMLP is expansion_ratio (default 4) * d_model.</summary>
    private static int IntermediateWidth(JsonFields f, string modelType, int hidden)
    {
        long width = modelType == "bloom" ? 4L * hidden
            : modelType == "mpt" ? (long)(f.OptionalInt("expansion_ratio") ?? 4) * hidden
            : f.OptionalInt("intermediate_size", "ffn_dim", "n_inner") ?? 0;
        if (width > MaxWidth)
        {
            string field = modelType switch { "bloom" => "4 x hidden_size", "mpt" => "expansion_ratio x d_model", _ => "intermediate_size" };
            throw new ConfigException(f.FilePath, $"{field} = {width} exceeds the limit {MaxWidth}");
        }
        return (int)width;
    }

    /// <summary>Checks the common fields after a family has filled them in (<c>ModelRegistry.LoadConfig</c>); throws <see cref="ConfigException"/>.</summary>
    public ModelConfig Validated()
    {
        Validate();
        return this;
    }

    private void Validate()
    {
        void Positive(int value, string name)
        {
            if (value <= 0) throw new ConfigException(FilePath, $"field '{name}' must be positive, found {value}");
        }
        void AtMost(long value, long limit, string name)
        {
            if (value > limit) throw new ConfigException(FilePath, $"{name} = {value} exceeds the limit {limit}");
        }
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        AtMost(VocabSize, MaxVocabSize, "vocab_size");
        AtMost(HiddenSize, MaxWidth, "hidden_size");
        AtMost(NumHiddenLayers, MaxLayers, "num_hidden_layers");
        AtMost((long)NumAttentionHeads * HeadDim, MaxWidth, "num_attention_heads x head_dim");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ConfigException(FilePath, $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        if (PartialRotaryFactor is <= 0 or > 1)
            throw new ConfigException(FilePath, $"partial_rotary_factor {PartialRotaryFactor} must lie in (0, 1]");
        if (RmsNormEps is < 0 or > 1) throw new ConfigException(FilePath, $"rms_norm_eps {RmsNormEps} is out of range");
        if (RopeTheta <= 0) throw new ConfigException(FilePath, $"rope_theta {RopeTheta} must be positive");
    }

    private static RopeScalingConfig? ParseRopeScaling(JsonFields f)
    {
        var scaling = f.Object("rope_scaling");
        if (scaling is null) return null;
        string type = scaling.OptionalString("rope_type") ?? scaling.OptionalString("type")
            ?? throw new ConfigException(f.FilePath, "rope_scaling has no 'type' or 'rope_type'");
        if (type == "default") return null;
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        var strings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in scaling.Root.EnumerateObject())
        {
            if (p.Value.ValueKind == JsonValueKind.Number) values[p.Name] = JsonFields.Finite(f.FilePath, "rope_scaling." + p.Name, p.Value);
            else if (p.Value.ValueKind == JsonValueKind.String) strings[p.Name] = p.Value.GetString()!;
        }
        return new RopeScalingConfig(type, scaling.OptionalDouble("factor"), values, strings);
    }
}
