using LongLM.Kernels;
using LongLM.Kernels.Ops;
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
/// BLOOM configs rarely give a trained length; it is then 2048 (<see cref="ModelConfig.BloomTrainedLength"/>), the
/// default L = D of LM-Infinite.
/// </summary>
public sealed class BloomModel : ICausalLM
{
    private readonly FusedQkv _qkv = new();
    private readonly BloomWeights _weights;
    private readonly AttentionBlock _attention;
    private readonly DecoderWorkspace _ws;
    private readonly float _eps;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public BloomModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy)
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
        double eps = raw.Double("layer_norm_epsilon") ?? 1e-5;
        if (eps is < 0 or > 1) throw raw.Error($"layer_norm_epsilon {eps} is out of range");
        Config = config;
        Backend = backend;
        _eps = (float)eps;
        _attention = new AttentionBlock(backend, policy, new PositionalEncoding.Alibi(AlibiSlopes.Compute(config.NumAttentionHeads)),
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim);
        try
        {
            _weights = BloomWeights.Load(store, config, backend, _qkv);
        }
        catch
        {
            _attention.Dispose();
            _qkv.Dispose();
            throw;
        }
        _ws = new DecoderWorkspace(backend, config, gated: false);
    }

    /// <inheritdoc />
    public ModelConfig Config { get; }

    /// <inheritdoc />
    public IBackend Backend { get; }

    /// <inheritdoc />
    public AttentionPolicy Policy => _attention.Policy;

    /// <inheritdoc />
    public KvCache CreateCache(long firstPosition = 0) =>
        new(Backend, Config.NumHiddenLayers, Config.NumAttentionHeads, Config.HeadDim, Policy, firstPosition);

    /// <inheritdoc />
    public void Forward(ReadOnlySpan<int> ids, KvCache cache, Span<float> logits, LogitsRows rows)
    {
        var c = Config;
        var b = Backend;
        int n = ids.Length, d = c.HiddenSize;
        _ws.Prepare(ids);
        _attention.Begin(cache, n);
        // h = word_embeddings_layernorm(word_embeddings[ids]).
        b.Embedding(_weights.WordEmbeddings, ids, _ws.Xb);
        b.LayerNorm(_ws.Xb, _weights.WordEmbeddingsLayernorm, _weights.WordEmbeddingsLayernormBias, _ws.X, n, d, _eps);

        // Each layer: h += dense(attn(query_key_value(input_layernorm(h)))) with ALiBi biases, then
        // h += dense_4h_to_h(gelu_tanh(dense_h_to_4h(post_attention_layernorm(h)))).
        for (int l = 0; l < c.NumHiddenLayers; l++)
            LayerNormGeluBlock.Run(b, _ws, _attention, cache, l, _weights.Layers[l], n, d, c.IntermediateSize, _eps, GeluApproximation.Tanh);
        _attention.End(cache);

        _ws.Head(n, rows == LogitsRows.All, r => b.LayerNorm(_ws.X, _weights.LnF, _weights.LnFBias, _ws.Xb, r, d, _eps), _weights.LmHead, logits);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _ws.Dispose();
        _attention.Dispose();
        _qkv.Dispose();
    }

}
