using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Runtime.Attention;

/// <summary>Builds a RoPE model's positional encoding from config.json's rope_scaling and the run's options.</summary>
public static class RotaryEncoding
{
    /// <summary>
    /// The rope_scaling table's method; for CLEX also raw-key re-rotation when t changes and the log scaling that
    /// the checkpoint (or the options) ask for. Under a bounded policy (Lambda, window) CLEX continues past
    /// L_tr x max_factor with the max_factor frequencies, since distances never exceed the window.
    /// </summary>
    public static PositionalEncoding.Rotary For(ModelConfig config, WeightStore store, AttentionPolicy policy, ModelOptions options, RopePairing pairing)
    {
        var scaling = RopeScaling.Create(config, store, clexExtend: options.ClexExtend || policy.BoundedLocal);
        if (scaling is not ClexRope clex) return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim);
        bool logScale = options.ClexLogScale ?? clex.LogScaleInConfig ?? false;
        return new PositionalEncoding.Rotary(scaling, pairing, config.RotaryDim, ReRotateOnChange: true,
            LogScale: logScale ? keys => clex.LogScale(keys, bf16: true) : null);
    }
}
