using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Mixtral;

/// <summary>
/// Mistral AI's Mixtral (Mixtral-8x7B, 8x22B; CLEX-Mixtral) as HF modeling_mixtral computes it: Llama's pre-norm
/// layers (RMSNorm, GQA attention with half-split RoPE, sliding_window honoured under vanilla attention), with the
/// dense MLP replaced by a sparse mixture of experts (MixtralSparseMoeBlock): a router picks num_experts_per_tok of
/// num_local_experts SwiGLU experts per token. The expert gather/scatter runs on the backend and each expert's MatMuls
/// see only its own rows, so a decode step reads the weights of the chosen experts alone.
/// </summary>
public sealed class MixtralModel : DecoderModel
{
    private readonly MixtralWeights _weights;
    private readonly MixtralSettings _moe;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public MixtralModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : this(config, MixtralSettings.Read(config), store, backend, policy, options ?? new ModelOptions())
    {
    }

    private MixtralModel(ModelConfig config, MixtralSettings moe, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions options)
        : base(config, store, backend, new AttentionBlock(backend, policy,
            RotaryEncoding.For(config, store, policy, options, RopePairing.HalfSplit, backend),
            config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim), gatedMlp: true, options: options)
    {
        _moe = moe;
        try
        {
            _weights = MixtralWeights.Load(store, config, moe, Loader);
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
    protected override int RoutedExperts => _moe.NumLocalExperts;

    /// <inheritdoc />
    protected override void RunLayers(ReadOnlySpan<int> ids, SequenceState sequence)
    {
        var c = Config;
        var b = Backend;
        var ws = sequence.Workspace;
        int n = ids.Length, hidden = c.HiddenSize;
        b.Embedding(_weights.EmbedTokens, ids, ws.X);
        float eps = (float)c.RmsNormEps;

        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var w = _weights.Layers[l];
            // Attention block (MixtralAttention = LlamaAttention without biases): x += o_proj(attn(rope(q), rope(k), v)).
            RmsNormAttention.Run(b, sequence, Attention, l, w.InputLayernorm, (w.QProj, null), (w.KProj, null), (w.VProj, null), (w.OProj, null), n, hidden, eps);

            // MoE block: x += sum over the token's chosen experts e of w_e * w2_e(silu(w1_e(h)) * w3_e(h)), h = RMSNorm(x).
            b.RmsNorm(ws.X, w.PostAttentionLayernorm, ws.Xb, n, hidden, eps);
            SparseMoe(w, ws, n);
        }
    }

    /// <summary>
    /// Routes the n rows of Xb and adds each expert's weighted output straight into the residual stream X (HF sums the
    /// experts into zeros, then adds the residual: the same sum in another order, float32 rounding apart).
    /// </summary>
    private void SparseMoe(MixtralLayerWeights w, DecoderWorkspace ws, int n)
    {
        var b = Backend;
        int hidden = Config.HiddenSize, experts = _moe.NumLocalExperts;
        b.MatMul(ws.Xb, w.Gate, null, ws.RouterLogits!, n);
        var routing = MoeRouting.For(n, experts);
        b.Download(ws.RouterLogits!, routing.Logits(n));
        routing.Route(n, _moe.NumExpertsPerTok);
        for (int e = 0; e < experts; e++)
        {
            var rows = routing.Rows(e);
            int count = rows.Length;
            if (count == 0) continue; // an expert no token chose: its weights are not read
            var expert = w.Experts[e];
            b.GatherRows(ws.Xb, rows, ws.Routed!, hidden);
            b.GatedMatMul(ws.Routed!, new Projection(expert.W1, null, ws.Gate!), new Projection(expert.W3, null, ws.Up), count);
            b.MatMul(ws.Gate!, expert.W2, null, ws.Routed!, count);
            b.ScatterAddRows(ws.Routed!, rows, routing.Scales(e), ws.X, hidden);
        }
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.RmsNorm(ws.X, _weights.Norm, ws.Xb, rows, Config.HiddenSize, (float)Config.RmsNormEps);
}
