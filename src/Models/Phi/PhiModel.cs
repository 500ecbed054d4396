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
            config.NumAttentionHeads, config.NumKeyValueHeads, config.HeadDim), gatedMlp: false, options: options)
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
        float eps = (float)_settings.LayerNormEps;
        Backend.Embedding(_weights.EmbedTokens, ids, sequence.Workspace.X);
        // One input_layernorm feeds attention (partial half-split RoPE inside the block) and the MLP.
        for (int l = 0; l < c.NumHiddenLayers; l++)
            LayerNormGeluBlock.RunParallel(Backend, sequence, Attention, l, _weights.Layers[l], ids.Length, c.HiddenSize, c.IntermediateSize, eps, _settings.Gelu);
    }

    /// <inheritdoc />
    protected override void FinalNorm(DecoderWorkspace ws, int rows) =>
        Backend.LayerNorm(ws.X, _weights.FinalLayernorm, _weights.FinalLayernormBias, ws.Xb, rows, Config.HiddenSize, (float)_settings.LayerNormEps);
}
