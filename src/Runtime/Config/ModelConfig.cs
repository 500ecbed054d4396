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
    /// <summary>"intermediate_size" (MLP width; 0 when config.json has none): families with their own rule set it in ReadConfig (MPT: expansion_ratio * d_model; BLOOM: 4 * hidden_size).</summary>
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
    /// The trained context length: "max_position_embeddings" (or n_positions, max_seq_len, seq_length); a family whose
    /// configs may carry none of these sets its own default in ReadConfig (BLOOM: 2048).
    /// </summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>
    /// "tie_word_embeddings": the output head reuses embed_tokens. When absent: false (LlamaConfig's default); a family
    /// whose HF config class keeps PretrainedConfig's default (true: MPT, BLOOM) sets it in ReadConfig.
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
        // The common HF names and their usual aliases (GPT-2/GPT-J n_embd, MPT d_model, BLOOM n_embed); a family's
        // ReadConfig (ModelRegistry.LoadConfig) corrects what its own config class reads differently.
        int hidden = f.RequiredInt("hidden_size", "n_embd", "d_model", "n_embed");
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
            IntermediateSize = f.OptionalInt("intermediate_size", "ffn_dim", "n_inner") ?? 0,
            NumHiddenLayers = f.RequiredInt("num_hidden_layers", "n_layer", "n_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = f.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = f.OptionalDouble("rope_theta") ?? 10000,
            PartialRotaryFactor = f.OptionalDouble("partial_rotary_factor") ?? 1,
            RopeScaling = ParseRopeScaling(f),
            MaxPositionEmbeddings = f.OptionalInt(TrainedLengthFields) ?? 0,
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? false,
            AttentionBias = f.OptionalBool("attention_bias") ?? false,
            MlpBias = f.OptionalBool("mlp_bias") ?? false,
            SlidingWindow = f.OptionalInt("sliding_window"),
            HiddenAct = f.OptionalString("hidden_act") ?? "silu",
            BosTokenId = f.OptionalInt("bos_token_id"),
            EosTokenIds = f.IntOrIntList("eos_token_id"),
            TorchDtype = f.OptionalString("torch_dtype"),
            Raw = f.Root,
        };
        config.Validate(familyFields: false);
        return config;
    }

    /// <summary>The names HF config classes give the trained length, in the order they are looked for.</summary>
    private static readonly string[] TrainedLengthFields = ["max_position_embeddings", "n_positions", "max_seq_len", "seq_length"];

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

    /// <summary>Checks the common fields after a family has filled them in (<c>ModelRegistry.LoadConfig</c>); throws <see cref="ConfigException"/>.</summary>
    public ModelConfig Validated()
    {
        Validate(familyFields: true);
        return this;
    }

    /// <summary>The checks; <paramref name="familyFields"/> adds those a family may still fill in (trained length, MLP width).</summary>
    private void Validate(bool familyFields)
    {
        void Positive(int value, string name)
        {
            if (value <= 0) throw new ConfigException(FilePath, $"field '{name}' must be positive, found {value}");
        }
        void AtMost(long value, long limit, string name)
        {
            if (value > limit) throw new ConfigException(FilePath, $"{name} = {value} exceeds the limit {limit}");
        }
        if (familyFields && MaxPositionEmbeddings == 0)
            throw new ConfigException(FilePath, "missing required field 'max_position_embeddings' (or n_positions, max_seq_len, seq_length)");
        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(NumKeyValueHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim");
        if (familyFields || MaxPositionEmbeddings != 0) Positive(MaxPositionEmbeddings, "max_position_embeddings");
        AtMost(VocabSize, MaxVocabSize, "vocab_size");
        AtMost(HiddenSize, MaxWidth, "hidden_size");
        AtMost(IntermediateSize, MaxWidth, "intermediate_size");
        if (IntermediateSize < 0) throw new ConfigException(FilePath, $"field 'intermediate_size' must be positive, found {IntermediateSize}");
        AtMost(NumHiddenLayers, MaxLayers, "num_hidden_layers");
        AtMost((long)NumAttentionHeads * HeadDim, MaxWidth, "num_attention_heads x head_dim");
        if (NumAttentionHeads % NumKeyValueHeads != 0)
            throw new ConfigException(FilePath, $"num_attention_heads {NumAttentionHeads} is not a multiple of num_key_value_heads {NumKeyValueHeads}");
        if (PartialRotaryFactor is <= 0 or > 1)
            throw new ConfigException(FilePath, $"partial_rotary_factor {PartialRotaryFactor} must lie in (0, 1]");
        if (familyFields && (RotaryDim > HeadDim || RotaryDim % 2 != 0))
            throw new ConfigException(FilePath, $"the rotary dimension {RotaryDim} must be even and at most head_dim {HeadDim}");
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
