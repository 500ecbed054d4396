using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Mpt;

/// <summary>
/// MosaicML MPT (mpt-7b, mpt-30b ...) as HF modeling_mpt computes it: pre-norm blocks of LayerNorm, multi-head
/// attention from a fused Wqkv with ALiBi biases (slopes 2^(-alibi_bias_max * p / n'), algorithms.md 2.4) instead of
/// position embeddings, and a GELU (exact erf) MLP of width expansion_ratio * d_model; the output head is wte.
/// Under LM-Infinite the ALiBi distances are clipped at D for the starting tokens (the efficient-path rule).
/// </summary>
public sealed class MptModel : DecoderModel
{
    private readonly MptWeights _weights;
    private readonly float _eps;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public MptModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : this(config, MptSettings.Read(config), store, backend, policy, options)
    {
    }

    private MptModel(ModelConfig config, MptSettings settings, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options)
        : base(config, store, backend, new AttentionBlock(backend, policy,
            new PositionalEncoding.Alibi(AlibiSlopes.Compute(config.NumAttentionHeads, settings.AlibiBiasMax)),
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false, options: options)
    {
        _eps = (float)settings.LayerNormEps;
        try
        {
            _weights = MptWeights.Load(store, config, Loader, settings.NoBias);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    protected override DeviceWeight LmHead => _weights.LmHead;

    /// <inheritdoc />
    protected override void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence)
    {
        var c = Config;
        Backend.Embedding(_weights.Wte, ids, sequence.Workspace.X);
        // Each layer: x += out_proj(attn(Wqkv(norm_1(x)))) with ALiBi biases, then
        // x += down_proj(gelu(up_proj(norm_2(x)))), GELU exact (nn.GELU(approximate='none')).
        for (int l = 0; l < c.NumHiddenLayers; l++)
            LayerNormGeluBlock.Run(Backend, sequence, Attention, l, _weights.Layers[l], ids.Length, c.HiddenSize, c.IntermediateSize, _eps, GeluApproximation.None);
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.NormF, _weights.NormFBias, ws.Xb, rows, Config.HiddenSize, _eps);
}

/// <summary>
/// MPT's config.json beyond <see cref="ModelConfig"/> (HF MptConfig / MptAttentionConfig names and defaults), with a
/// clear error for every option this runtime does not compute.
/// </summary>
/// <param name="LayerNormEps">layer_norm_epsilon (default 1e-5).</param>
/// <param name="NoBias">no_bias (default true: no LayerNorm or Linear biases, as every released MPT).</param>
/// <param name="AlibiBiasMax">attn_config.alibi_bias_max (default 8).</param>
public sealed record MptSettings(double LayerNormEps, bool NoBias, double AlibiBiasMax)
{
    /// <summary>
    /// MptConfig's reading of config.json (ModelRegistry's ReadConfig hook): the MLP width is expansion_ratio
    /// (default 4) x d_model, whatever else the file says, and the head is tied unless tie_word_embeddings says
    /// otherwise (MptConfig keeps PretrainedConfig's default, true).
    /// </summary>
    public static ModelConfig ReadConfig(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        long width = (long)(raw.Int("expansion_ratio") ?? 4) * config.HiddenSize;
        if (width is <= 0 or > ModelConfig.MaxWidth)
            throw raw.Error($"expansion_ratio x d_model = {width} must lie in [1, {ModelConfig.MaxWidth}]");
        return config with { IntermediateSize = (int)width, TieWordEmbeddings = raw.Bool("tie_word_embeddings") ?? true };
    }

    /// <summary>Reads and checks the MPT-specific fields of <paramref name="config"/>.</summary>
    public static MptSettings Read(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        var attn = raw.Object("attn_config");
        if (attn is { } a)
        {
            if (a.Bool("alibi") == false)
                throw a.Error($"{a.Name("alibi")} is false (learned position embeddings); LongLM runs MPT models with ALiBi only");
            if (a.Has("clip_qkv"))
                throw a.Error($"{a.Name("clip_qkv")} = {a.Text("clip_qkv")} is not supported (LongLM runs MPT without q/k/v clipping)");
            if (a.Bool("qk_ln") == true) throw a.Error($"{a.Name("qk_ln")} (LayerNorm on q and k) is not supported");
            if (a.Bool("prefix_lm") == true) throw a.Error($"{a.Name("prefix_lm")} (bidirectional prefix attention) is not supported");
            if (a.Bool("rope") == true) throw a.Error($"{a.Name("rope")} is not supported; LongLM runs MPT models with ALiBi only");
            if (a.String("attn_type") is { } type && type != "multihead_attention")
                throw a.Error($"{a.Name("attn_type")} '{type}' is not supported (supported: multihead_attention)");
            if (a.Double("softmax_scale") is double scale && Math.Abs(scale * Math.Sqrt(config.HeadDim) - 1) > 1e-6)
                throw a.Error($"{a.Name("softmax_scale")} {scale} is not supported (only the default 1/sqrt(head_dim) = {1 / Math.Sqrt(config.HeadDim):G6})");
        }
        if (raw.Has("logit_scale")) throw raw.Error($"logit_scale = {raw.Text("logit_scale")} is not supported");
        if (raw.String("norm_type") is { } norm && !norm.EndsWith("layernorm", StringComparison.Ordinal))
            throw raw.Error($"norm_type '{norm}' is not supported (supported: layernorm, low_precision_layernorm)");
        if (raw.Object("ffn_config")?.String("ffn_type") is { } ffn && ffn != "mptmlp")
            throw raw.Error($"ffn_config.ffn_type '{ffn}' is not supported (supported: mptmlp)");
        if (config.NumKeyValueHeads != config.NumAttentionHeads)
            throw raw.Error("grouped key/value heads are not supported for MPT (multi-head attention only)");
        // Wqkv's d_model outputs per part are n_heads whole heads (MptConfig has no head size of its own).
        if ((long)config.NumAttentionHeads * config.HeadDim != config.HiddenSize)
            throw raw.Error($"n_heads {config.NumAttentionHeads} x head_dim {config.HeadDim} must equal d_model {config.HiddenSize} for MPT");
        double eps = raw.Double("layer_norm_epsilon") ?? 1e-5;
        double biasMax = attn?.Double("alibi_bias_max") ?? 8;
        if (eps is < 0 or > 1) throw raw.Error($"layer_norm_epsilon {eps} is out of range");
        if (biasMax <= 0) throw raw.Error($"attn_config.alibi_bias_max {biasMax} must be positive");
        return new MptSettings(eps, raw.Bool("no_bias") ?? true, biasMax);
    }
}
