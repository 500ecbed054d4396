using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Runtime.Attention;

/// <summary>Builds a RoPE model's positional encoding from config.json's rope_scaling and the run's options.</summary>
public static class RotaryEncoding
{
    /// <summary>
    /// The rope_scaling table's method. Every method takes its frequencies from the logical call's total length.
    /// Between calls, CLEX keeps raw keys and re-rotates the cache when t changes, as its reference does (3.4): at most
    /// max_factor - 1 times in a whole stream. Dynamic NTK follows HF transformers: cached keys keep the rotation
    /// they were computed with (HF caches rotated keys), so a decode step past the trained length rotates only its
    /// own query and key; re-rotating the cache at every step (the base changes with every token) would cost
    /// O(cache) per token and disagree with HF's generate. CLEX also gets the log scaling the checkpoint (or the options) ask for, and under a bounded policy (Lambda,
    /// window) continues past L_tr x max_factor with the max_factor frequencies, since distances never exceed the window.
    /// </summary>
    /// <remarks>CLEX's ODE is integrated once at load on <paramref name="backend"/> (the ClexIntegrate op).</remarks>
    public static PositionalEncoding.Rotary For(ModelConfig config, WeightStore store, AttentionPolicy policy, ModelOptions options, RopePairing pairing, IBackend backend)
    {
        var scaling = RopeScaling.Create(config, store, clexExtend: options.ClexExtend || policy.BoundedLocal, clexBackend: backend);
        if (scaling is not ClexRope clex) return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim);
        bool logScale = options.ClexLogScale ?? clex.LogScaleInConfig ?? false;
        return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim, ReRotateOnChange: true,
            LogScale: logScale ? keys => clex.LogScale(keys, bf16: true) : null);
    }
}
