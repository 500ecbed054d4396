using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Bloom;

/// <summary>
/// BigScience BLOOM (bloom-560m ... bloom) as HF modeling_bloom computes it: word embeddings followed by a LayerNorm,
/// pre-norm blocks of LayerNorm, multi-head attention from a per-head interleaved query_key_value with ALiBi biases
/// (BLOOM's slope rule, equal to MPT's with alibi_bias_max 8, algorithms.md 2.4), and a 4 * hidden MLP with the tanh
/// GELU (bloom_gelu_forward); every Linear and LayerNorm has a bias, and the output head is word_embeddings.
/// BLOOM configs rarely give a trained length; it is then 2048 (<see cref="BloomConfig.TrainedLength"/>), the
/// default L = D of LM-Infinite.
/// </summary>
public sealed class BloomModel : DecoderModel
{
    private readonly FusedQkv _qkv = new();
    private readonly BloomWeights _weights;
    private readonly float _eps;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public BloomModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : base(Checked(config, out float eps), store, backend, new AttentionBlock(backend, policy,
            new PositionalEncoding.Alibi(AlibiSlopes.Compute(config.NumAttentionHeads)),
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false, options: options)
    {
        _eps = eps;
        try
        {
            _weights = BloomWeights.Load(store, config, Loader, _qkv);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static ModelConfig Checked(ModelConfig config, out float eps)
    {
        var raw = RawConfig.Of(config);
        // BLOOM's residual is taken before the LayerNorm in every released checkpoint; the other branch is refused.
        if (raw.Bool("apply_residual_connection_post_layernorm") == true)
            throw raw.Error("apply_residual_connection_post_layernorm true is not supported");
        if (config.NumKeyValueHeads != config.NumAttentionHeads)
            throw raw.Error("grouped key/value heads are not supported for BLOOM (multi-head attention only)");
        // query_key_value is split per head: hidden_size must be n_head whole heads (BloomConfig has no head size of its own).
        if ((long)config.NumAttentionHeads * config.HeadDim != config.HiddenSize)
            throw raw.Error($"n_head {config.NumAttentionHeads} x head_dim {config.HeadDim} must equal hidden_size {config.HiddenSize} for BLOOM");
        double value = raw.Double("layer_norm_epsilon") ?? 1e-5;
        if (value is < 0 or > 1) throw raw.Error($"layer_norm_epsilon {value} is out of range");
        eps = (float)value;
        return config;
    }

    /// <inheritdoc />
    protected override DeviceWeight LmHead => _weights.LmHead;

    /// <inheritdoc />
    protected override void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence)
    {
        var c = Config;
        var b = Backend;
        var ws = sequence.Workspace;
        int n = ids.Length, d = c.HiddenSize;
        // h = word_embeddings_layernorm(word_embeddings[ids]).
        b.Embedding(_weights.WordEmbeddings, ids, ws.Xb);
        b.LayerNorm(ws.Xb, _weights.WordEmbeddingsLayernorm, _weights.WordEmbeddingsLayernormBias, ws.X, n, d, _eps);

        // Each layer: h += dense(attn(query_key_value(input_layernorm(h)))) with ALiBi biases, then
        // h += dense_4h_to_h(gelu_tanh(dense_h_to_4h(post_attention_layernorm(h)))).
        for (int l = 0; l < c.NumHiddenLayers; l++)
            LayerNormGeluBlock.Run(b, sequence, Attention, l, _weights.Layers[l], n, d, c.IntermediateSize, _eps, GeluApproximation.Tanh);
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.LnF, _weights.LnFBias, ws.Xb, rows, Config.HiddenSize, _eps);

    /// <inheritdoc />
    protected override void DisposeWeights()
    {
        base.DisposeWeights();
        _qkv?.Dispose();
    }
}
