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
            config.NumAttentionHeads, config.NumAttentionHeads, config.HeadDim), gatedMlp: false)
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
        var b = Backend;
        var ws = sequence.Workspace;
        int n = ids.Length, d = c.HiddenSize;
        long rows = (long)n * d;
        b.Embedding(_weights.Wte, ids, ws.X);

        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var w = _weights.Layers[l];
            b.LayerNorm(ws.X, w.Ln1, w.Ln1Bias, ws.Xb, n, d, _eps);
            // Both branches read h = ln_1(x) in Xb, so the MLP's hidden goes first into Up (it outlives attention);
            // then q, k, v from Xb, and only then is Xb free to carry each branch's output into X, one after the other.
            b.MatMul(ws.Xb, w.FcIn, w.FcInBias, ws.Up, n);
            b.Gelu(ws.Up, ws.Up, (long)n * c.IntermediateSize, GeluApproximation.Tanh);
            b.MatMul(ws.Xb, w.QProj, null, ws.Q, n);
            b.MatMul(ws.Xb, w.KProj, null, ws.K, n);
            b.MatMul(ws.Xb, w.VProj, null, ws.V, n);
            Attention.Run(l, sequence.Attention, sequence.Cache, ws.Q, ws.K, ws.V, ws.Attn);
            b.MatMul(ws.Attn, w.OutProj, null, ws.Xb, n);
            b.Add(ws.X, ws.Xb, ws.X, rows);
            b.MatMul(ws.Up, w.FcOut, w.FcOutBias, ws.Xb, n);
            b.Add(ws.X, ws.Xb, ws.X, rows);
        }
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.LnF, _weights.LnFBias, ws.Xb, rows, Config.HiddenSize, _eps);
}
