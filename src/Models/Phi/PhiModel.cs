using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Phi;

/// <summary>
/// Microsoft Phi (phi-1, phi-1.5, phi-2; HF PhiForCausalLM) as transformers' modeling_phi computes it: one LayerNorm per
/// layer feeding attention and MLP in parallel, x = x + dense(attn(h)) + fc2(gelu_new(fc1(h))) with h =
/// input_layernorm(x); half-split RoPE on the first rotary_dim = int(partial_rotary_factor * head_dim) dimensions of
/// each head (the rest pass through), scale 1/sqrt(head_dim); biases on every Linear, the lm_head included.
/// CLEX-Phi-2 (DAMO-NLP-SG/CLEX-Phi-2-32K) loads through the same path: its model.clex_layer.* tensors sit where the
/// Llama CLEX checkpoints keep them, with d = rotary_dim; its modeling code has no log scaling, so none is applied
/// unless asked for (<see cref="ModelOptions.ClexLogScale"/>).
/// </summary>
public sealed class PhiModel : DecoderModel
{
    private readonly PhiWeights _weights;
    private readonly PhiSettings _settings;

    /// <summary>Loads the weights from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public PhiModel(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
        : base(config, store, backend, new AttentionBlock(backend, policy,
            RotaryEncoding.For(config, store, policy, WithoutConfigLogScale(options), RopePairing.HalfSplit, backend),
            config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim), gatedMlp: false)
    {
        try
        {
            _settings = PhiSettings.Read(config);
            _weights = PhiWeights.Load(store, config, Loader);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>modeling_phi2_clex.py never reads config.json's log_scale: the query factor is on only when the run asks.</summary>
    private static ModelOptions WithoutConfigLogScale(ModelOptions? options)
    {
        options ??= new ModelOptions();
        return options with { ClexLogScale = options.ClexLogScale ?? false };
    }

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
        int n = ids.Length, hidden = c.HiddenSize;
        float eps = (float)_settings.LayerNormEps;
        b.Embedding(_weights.EmbedTokens, ids, ws.X);

        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var w = _weights.Layers[l];
            // h = input_layernorm(x), shared by both branches.
            b.LayerNorm(ws.X, w.InputLayernorm, w.InputLayernormBias, ws.Xb, n, hidden, eps);
            // MLP branch first, while Xb still holds h: gelu_new(fc1(h)) into Up.
            b.MatMul(ws.Xb, w.Fc1, w.Fc1Bias, ws.Up, n);
            b.Gelu(ws.Up, ws.Up, (long)n * c.IntermediateSize, _settings.Gelu);
            // Attention branch on h (partial half-split RoPE inside the block), then x += dense(attn).
            b.MatMul(ws.Xb, w.QProj, w.QBias, ws.Q, n);
            b.MatMul(ws.Xb, w.KProj, w.KBias, ws.K, n);
            b.MatMul(ws.Xb, w.VProj, w.VBias, ws.V, n);
            Attention.Run(l, sequence.Attention, sequence.Cache, ws.Q, ws.K, ws.V, ws.Attn);
            b.MatMul(ws.Attn, w.Dense, w.DenseBias, ws.Xb, n);
            b.Add(ws.X, ws.Xb, ws.X, (long)n * hidden);
            // x += fc2(...): both branches read the same h, so the order of the two adds is the parallel residual.
            b.MatMul(ws.Up, w.Fc2, w.Fc2Bias, ws.Xb, n);
            b.Add(ws.X, ws.Xb, ws.X, (long)n * hidden);
        }
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.FinalLayernorm, _weights.FinalLayernormBias, ws.Xb, rows, Config.HiddenSize, (float)_settings.LayerNormEps);
}
