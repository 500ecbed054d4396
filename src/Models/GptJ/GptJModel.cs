using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.GptJ;

/// <summary>
/// EleutherAI GPT-J (GPTJForCausalLM) as HF modeling_gptj computes it: token embeddings, then blocks in which ONE
/// LayerNorm (ln_1) feeds attention and the MLP in parallel, both added to the residual at once
/// (x = x + out_proj(attn(h)) + fc_out(gelu_new(fc_in(h))), h = ln_1(x)); multi-head attention with bias-free q/k/v/out
/// projections and interleaved RoPE (rotate_every_two) on the first rotary_dim dims of each head, the rest passing
/// through; ln_f, then an lm_head with bias.
/// </summary>
public sealed class GptJModel : DecoderModel
{
    private readonly GptJWeights _weights;
    private readonly float _eps;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public GptJModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : base(config, store, backend, new AttentionBlock(backend, policy,
            RotaryEncoding.For(config, store, policy, options ?? new ModelOptions(), RopePairing.Interleaved, backend),
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false, options: options)
    {
        _eps = GptJConfig.LayerNormEps(config);
        try
        {
            _weights = GptJWeights.Load(store, config, Loader);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The rotary setup the attention uses (interleaved pairs over rotary_dim dims), exposed so tests can pin it.</summary>
    public PositionalEncoding.Rotary Rotary => Attention.Rotary!;

    /// <inheritdoc />
    protected override DeviceWeight LmHead => _weights.LmHead;

    /// <inheritdoc />
    protected override DeviceWeight? LmHeadBias => _weights.LmHeadBias;

    /// <inheritdoc />
    protected override void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence)
    {
        var c = Config;
        Backend.Embedding(_weights.Wte, ids, sequence.Workspace.X);
        // One LayerNorm feeds attention and the MLP (gelu_new), whose outputs are both added to x.
        for (int l = 0; l < c.NumHiddenLayers; l++)
            LayerNormGeluBlock.RunParallel(Backend, sequence, Attention, l, _weights.Layers[l], ids.Length, c.HiddenSize, c.IntermediateSize, _eps, GeluApproximation.Tanh);
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.LnF, _weights.LnFBias, ws.Xb, rows, Config.HiddenSize, _eps);
}
