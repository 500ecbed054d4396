using System.Text.Json;
using LongLM.Runtime.Config;

namespace LongLM.Models.GptJ;

/// <summary>
/// GPT-J's config.json as HF GPTJConfig reads it: n_embd, n_head, n_layer and n_positions come through the common
/// parser; this maps the rest (rotary_dim, n_inner, activation_function, tie_word_embeddings) onto the common
/// <see cref="ModelConfig"/> fields with GPTJConfig's own defaults, and refuses what LongLM does not compute.
/// </summary>
public static class GptJConfig
{
    /// <summary>GPTJConfig.rotary_dim's default (EleutherAI/gpt-j-6b rotates 64 of its 256 head dims).</summary>
    public const int DefaultRotaryDim = 64;

    /// <summary>GPTJConfig.n_positions' default.</summary>
    public const int DefaultPositions = 2048;

    /// <summary>
    /// activation_function values this runtime computes: HF's "gelu_new" (NewGELUActivation) and
    /// "gelu_pytorch_tanh" are the same tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    /// </summary>
    private static readonly string[] s_tanhGelu = ["gelu_new", "gelu_pytorch_tanh"];

    /// <summary>The family hook of ModelRegistry: GPTJConfig's names and defaults onto the common fields.</summary>
    public static ModelConfig ReadConfig(ModelConfig parsed)
    {
        var raw = RawConfig.Of(parsed);
        string act = raw.String("activation_function") ?? "gelu_new";
        if (!s_tanhGelu.Contains(act))
            throw raw.Error($"activation_function '{act}' is not supported for GPT-J (supported: {string.Join(", ", s_tanhGelu)})");
        if (raw.Has("rope_scaling"))
            throw raw.Error("rope_scaling is not supported for GPT-J (HF's GPTJAttention has no rope scaling; it would silently ignore the field)");
        if (raw.Has("num_key_value_heads") && parsed.NumKeyValueHeads != parsed.NumAttentionHeads)
            throw raw.Error("num_key_value_heads: grouped key/value heads are not supported for GPT-J (multi-head attention only)");
        if ((long)parsed.NumAttentionHeads * parsed.HeadDim != parsed.HiddenSize)
            throw raw.Error($"n_head {parsed.NumAttentionHeads} x head_dim {parsed.HeadDim} must equal n_embd {parsed.HiddenSize} for GPT-J");

        int rotary = RotaryDim(parsed, raw);
        // n_inner null (or absent) is 4 * n_embd, as GPTJBlock's inner_dim.
        long inner = raw.Has("n_inner") ? parsed.IntermediateSize : 4L * parsed.HiddenSize;
        if (inner <= 0 || inner > ModelConfig.MaxWidth)
            throw raw.Error($"n_inner {inner} must lie in [1, {ModelConfig.MaxWidth}]");
        return parsed with
        {
            IntermediateSize = (int)inner,
            // n_positions absent: GPTJConfig's default 2048 (gpt-j-6b's trained length).
            MaxPositionEmbeddings = parsed.MaxPositionEmbeddings > 0 ? parsed.MaxPositionEmbeddings : DefaultPositions,
            RotaryDim = rotary,
            HiddenAct = act,
            TieWordEmbeddings = raw.Bool("tie_word_embeddings") ?? false,
        };
    }

    /// <summary>layer_norm_epsilon (GPTJConfig default 1e-5), used by ln_1 and ln_f.</summary>
    public static float LayerNormEps(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        double eps = raw.Double("layer_norm_epsilon") ?? 1e-5;
        if (eps is < 0 or > 1) throw raw.Error($"layer_norm_epsilon {eps} is out of range");
        return (float)eps;
    }

    /// <summary>
    /// rotary_dim: absent is GPTJConfig's 64; an explicit null rotates the whole head (HF then builds its table over
    /// n_embd, which only broadcasts for one head, where n_embd = head_dim). It must be even (rotate_every_two pairs
    /// dims 2k, 2k+1) and at most head_dim.
    /// </summary>
    private static int RotaryDim(ModelConfig parsed, RawConfig raw)
    {
        bool present = parsed.Raw.ValueKind == JsonValueKind.Object && parsed.Raw.TryGetProperty("rotary_dim", out _);
        if (present && !raw.Has("rotary_dim")) return parsed.HeadDim;
        double value = raw.Double("rotary_dim") ?? DefaultRotaryDim;
        if (value != Math.Floor(value) || value <= 0 || value > parsed.HeadDim || value % 2 != 0)
            throw raw.Error($"rotary_dim {value} must be an even whole number in [2, head_dim = {parsed.HeadDim}]");
        return (int)value;
    }
}
