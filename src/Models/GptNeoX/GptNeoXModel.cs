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
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false, options: options)
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
            // use_parallel_residual: x + attn(input_layernorm(x)) + mlp(post_attention_layernorm(x)).
            if (_settings.UseParallelResidual) LayerNormGeluBlock.RunParallel(Backend, sequence, Attention, l, _weights.Layers[l], n, c.HiddenSize, c.IntermediateSize, _eps, _settings.Gelu);
            else LayerNormGeluBlock.Run(Backend, sequence, Attention, l, _weights.Layers[l], n, c.HiddenSize, c.IntermediateSize, _eps, _settings.Gelu);
        }
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
