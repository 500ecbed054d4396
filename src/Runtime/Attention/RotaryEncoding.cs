using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Runtime.Attention;

/// <summary>Builds a RoPE model's positional encoding from config.json's rope_scaling and the run's options.</summary>
public static class RotaryEncoding
{
    /// <summary>
    /// The rope_scaling table's method. Methods whose frequencies depend on the length (dynamic NTK, CLEX) keep raw
    /// keys and re-rotate the cache when the frequencies change, so every key a query meets uses the query's
    /// frequencies (CLEX's reference does this, 3.4; HF's dynamic NTK instead keeps stale rotations in its cache,
    /// which mixes two frequency sets in one dot product). Cost: one re-rotation of the cache per change.
    /// CLEX also gets the log scaling the checkpoint (or the options) ask for, and under a bounded policy (Lambda,
    /// window) continues past L_tr x max_factor with the max_factor frequencies, since distances never exceed the window.
    /// </summary>
    /// <remarks>CLEX's ODE is integrated once at load on <paramref name="backend"/> (the ClexIntegrate op).</remarks>
    public static PositionalEncoding.Rotary For(ModelConfig config, WeightStore store, AttentionPolicy policy, ModelOptions options, RopePairing pairing, IBackend backend)
    {
        var scaling = RopeScaling.Create(config, store, clexExtend: options.ClexExtend || policy.BoundedLocal, clexBackend: backend);
        if (scaling is not ClexRope clex) return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim, ReRotateOnChange: scaling.DependsOnLength);
        bool logScale = options.ClexLogScale ?? clex.LogScaleInConfig ?? false;
        return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim, ReRotateOnChange: true,
            LogScale: logScale ? keys => clex.LogScale(keys, bf16: true) : null);
    }
}
