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
public sealed class LlamaModel : ICausalLM
{
    private readonly LlamaWeights _weights;
    private readonly AttentionBlock _attention;
    private readonly DecoderWorkspace _ws;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public LlamaModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
    {
        if (config.HiddenAct is not ("silu" or "swish"))
            throw new ConfigException(config.FilePath, $"hidden_act '{config.HiddenAct}' is not supported for Llama-family models (supported: silu)");
        if (config.IntermediateSize <= 0) throw new ConfigException(config.FilePath, "missing required field 'intermediate_size'");
        Config = config;
        Backend = backend;
        // Weights first: their shapes check config.json's sizes before the RoPE tables and workspaces are sized by them.
        _weights = LlamaWeights.Load(store, config, backend);
        _attention = new AttentionBlock(backend, policy, RotaryEncoding.For(config, store, policy, options ?? new ModelOptions(), RopePairing.HalfSplit, backend),
            config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim);
        _ws = new DecoderWorkspace(backend, config, gated: true);
    }

    /// <inheritdoc />
    public ModelConfig Config { get; }

    /// <inheritdoc />
    public IBackend Backend { get; }

    /// <inheritdoc />
    public AttentionPolicy Policy => _attention.Policy;

    /// <inheritdoc />
    public KvCache CreateCache(long firstPosition = 0) =>
        new(Backend, Config.NumHiddenLayers, Config.NumKeyValueHeads, Config.HeadDim, Policy, firstPosition, _attention.KeepsRawLocalKeys);

    /// <inheritdoc />
    public void Forward(ReadOnlySpan<int> ids, KvCache cache, Span<float> logits, LogitsRows rows)
    {
        var c = Config;
        var b = Backend;
        int n = ids.Length, hidden = c.HiddenSize;
        _ws.Prepare(ids);
        _attention.Begin(cache, n);
        b.Embedding(_weights.EmbedTokens, ids, _ws.X);
        float eps = (float)c.RmsNormEps;

        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var w = _weights.Layers[l];
            // Attention block: x += o_proj(attn(rope(q), rope(k), v)) on RMSNorm(x), attention under the policy.
            b.RmsNorm(_ws.X, w.InputLayernorm, _ws.Xb, n, hidden, eps);
            b.MatMul(_ws.Xb, w.QProj, w.QBias, _ws.Q, n);
            b.MatMul(_ws.Xb, w.KProj, w.KBias, _ws.K, n);
            b.MatMul(_ws.Xb, w.VProj, w.VBias, _ws.V, n);
            _attention.Run(l, cache, _ws.Q, _ws.K, _ws.V, _ws.Attn);
            b.MatMul(_ws.Attn, w.OProj, w.OBias, _ws.Xb, n);
            b.Add(_ws.X, _ws.Xb, _ws.X, (long)n * hidden);

            // MLP block: x += down(silu(gate(h)) * up(h)), h = RMSNorm(x).
            b.RmsNorm(_ws.X, w.PostAttentionLayernorm, _ws.Xb, n, hidden, eps);
            b.MatMul(_ws.Xb, w.GateProj, w.GateBias, _ws.Gate!, n);
            b.MatMul(_ws.Xb, w.UpProj, w.UpBias, _ws.Up, n);
            b.SiluMul(_ws.Gate!, _ws.Up, _ws.Gate!, (long)n * c.IntermediateSize);
            b.MatMul(_ws.Gate!, w.DownProj, w.DownBias, _ws.Xb, n);
            b.Add(_ws.X, _ws.Xb, _ws.X, (long)n * hidden);
        }
        _attention.End(cache);

        _ws.Head(n, rows == LogitsRows.All, r => b.RmsNorm(_ws.X, _weights.Norm, _ws.Xb, r, hidden, eps), _weights.LmHead, logits);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _ws.Dispose();
        _attention.Dispose();
    }

}
