using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.GptNeoX;

/// <summary>
/// EleutherAI GPT-NeoX (gpt-neox-20b, Pythia) as HF modeling_gpt_neox computes it: pre-LayerNorm layers with
/// multi-head attention from a per-head fused query_key_value, half-split (rotate_half) RoPE on the first
/// rotary_ndims = int(head_size * rotary_pct) dims of each head, and a GELU MLP; by default the residual is parallel,
/// x + attn(ln1(x)) + mlp(ln2(x)), sequential (x += attn(ln1(x)); x += mlp(ln2(x))) with use_parallel_residual false.
/// The output head is embed_out (untied unless tie_word_embeddings says otherwise).
/// </summary>
public sealed class GptNeoXModel : DecoderModel
{
    private readonly FusedQkv _qkv = new();
    private readonly GptNeoXWeights _weights;
    private readonly GptNeoXSettings _settings;
    private readonly float _eps;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public GptNeoXModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : this(config, GptNeoXSettings.Read(config), store, backend, policy, options ?? new ModelOptions())
    {
    }

    private GptNeoXModel(ModelConfig config, GptNeoXSettings settings, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions options)
        : base(config, store, backend, new AttentionBlock(backend, policy,
            RotaryEncoding.For(config, store, policy, options, RopePairing.HalfSplit, backend),
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false)
    {
        _settings = settings;
        _eps = (float)settings.LayerNormEps;
        try
        {
            _weights = GptNeoXWeights.Load(store, config, Loader, _qkv);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    protected override DeviceWeight LmHead => _weights.EmbedOut;

    /// <inheritdoc />
    protected override void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence)
    {
        var c = Config;
        int n = ids.Length;
        Backend.Embedding(_weights.EmbedIn, ids, sequence.Workspace.X);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            if (_settings.UseParallelResidual) RunParallel(sequence, l, _weights.Layers[l], n);
            else LayerNormGeluBlock.Run(Backend, sequence, Attention, l, _weights.Layers[l], n, c.HiddenSize, c.IntermediateSize, _eps, _settings.Gelu);
        }
    }

    /// <summary>
    /// x = x + attn(input_layernorm(x)) + mlp(post_attention_layernorm(x)): both LayerNorms read the same x, so the
    /// MLP's hidden activations are computed first into Up (which attention leaves alone), then attention, then both
    /// outputs are added through Xb; no extra buffer.
    /// </summary>
    private void RunParallel(SequenceState sequence, int layer, GptNeoXLayerWeights w, int rows)
    {
        var b = Backend;
        var ws = sequence.Workspace;
        int hidden = Config.HiddenSize;
        long count = (long)rows * hidden;
        b.LayerNorm(ws.X, w.PostAttentionLayernorm, w.PostAttentionLayernormBias, ws.Xb, rows, hidden, _eps);
        b.MatMul(ws.Xb, w.DenseHTo4h, w.DenseHTo4hBias, ws.Up, rows);
        b.Gelu(ws.Up, ws.Up, (long)rows * Config.IntermediateSize, _settings.Gelu);

        b.LayerNorm(ws.X, w.InputLayernorm, w.InputLayernormBias, ws.Xb, rows, hidden, _eps);
        b.MatMul(ws.Xb, w.Wq, w.Bq, ws.Q, rows);
        b.MatMul(ws.Xb, w.Wk, w.Bk, ws.K, rows);
        b.MatMul(ws.Xb, w.Wv, w.Bv, ws.V, rows);
        Attention.Run(layer, sequence.Attention, sequence.Cache, ws.Q, ws.K, ws.V, ws.Attn);
        b.MatMul(ws.Attn, w.Dense, w.DenseBias, ws.Xb, rows);
        b.Add(ws.X, ws.Xb, ws.X, count);

        b.MatMul(ws.Up, w.Dense4hToH, w.Dense4hToHBias, ws.Xb, rows);
        b.Add(ws.X, ws.Xb, ws.X, count);
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.FinalLayerNorm, _weights.FinalLayerNormBias, ws.Xb, rows, Config.HiddenSize, _eps);

    /// <inheritdoc />
    protected override void DisposeWeights()
    {
        base.DisposeWeights();
        _qkv?.Dispose();
    }
}
