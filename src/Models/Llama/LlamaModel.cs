using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Llama;

/// <summary>
/// The Llama family (Llama 1/2/3, Mistral, Qwen2, SmolLM, TinyLlama) as HF modeling_llama computes it:
/// pre-norm decoder layers of RMSNorm, GQA attention with half-split RoPE, and a SwiGLU MLP.
/// </summary>
public sealed class LlamaModel : DecoderModel
{
    private readonly LlamaWeights _weights;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public LlamaModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : base(Checked(config), store, backend, new AttentionBlock(backend, policy,
            RotaryEncoding.For(config, store, policy, options ?? new ModelOptions(), RopePairing.HalfSplit, backend),
            config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim), gatedMlp: true, options: options)
    {
        try
        {
            _weights = LlamaWeights.Load(store, config, Loader);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static ModelConfig Checked(ModelConfig config)
    {
        if (config.HiddenAct is not ("silu" or "swish"))
            throw new ConfigException(config.FilePath, $"hidden_act '{config.HiddenAct}' is not supported for Llama-family models (supported: silu)");
        if (config.IntermediateSize <= 0) throw new ConfigException(config.FilePath, "missing required field 'intermediate_size'");
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
        int n = ids.Length, hidden = c.HiddenSize;
        b.Embedding(_weights.EmbedTokens, ids, ws.X);
        float eps = (float)c.RmsNormEps;

        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var w = _weights.Layers[l];
            // Attention block: x += o_proj(attn(rope(q), rope(k), v)) on RMSNorm(x), attention under the policy.
            RmsNormAttention.Run(b, sequence, Attention, l, w.InputLayernorm, (w.QProj, w.QBias), (w.KProj, w.KBias), (w.VProj, w.VBias), (w.OProj, w.OBias), n, hidden, eps);

            // MLP block: x += down(silu(gate(h)) * up(h)), h = RMSNorm(x).
            b.RmsNorm(ws.X, w.PostAttentionLayernorm, ws.Xb, n, hidden, eps);
            b.GatedMatMul(ws.Xb, new Projection(w.GateProj, w.GateBias, ws.Gate!), new Projection(w.UpProj, w.UpBias, ws.Up), n);
            b.MatMul(ws.Gate!, w.DownProj, w.DownBias, ws.Xb, n);
            b.Add(ws.X, ws.Xb, ws.X, (long)n * hidden);
        }
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.RmsNorm(ws.X, _weights.Norm, ws.Xb, rows, Config.HiddenSize, (float)Config.RmsNormEps);
}
