using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;

namespace LongLM.Runtime;

/// <summary>How to run a model beyond what its config.json says: long-context attention and RoPE experiments.</summary>
public sealed record ModelOptions
{
    /// <summary>LM-Infinite or an ablation; null runs the model's own attention (its sliding_window if any).</summary>
    public LambdaAttentionOptions? Attention { get; init; }

    /// <summary>Replaces config.json's rope_scaling for experiments: "linear:4", "dynamic:4", "yarn:4" or "none".</summary>
    public string? RopeScaling { get; init; }

    /// <summary>CLEX past L_tr x max_factor: continue with the max_factor frequencies instead of refusing.</summary>
    public bool ClexExtend { get; init; }

    /// <summary>CLEX log scaling of the query: null follows the checkpoint's "log_scale" (algorithms.md decisions).</summary>
    public bool? ClexLogScale { get; init; }

    /// <summary>
    /// Scan every stored weight for NaN and infinity before building the model (<see cref="SafeTensors.WeightScan"/>):
    /// one read of the whole checkpoint, so off by default.
    /// </summary>
    public bool CheckWeights { get; init; }

    /// <summary>
    /// Quantize the linear weights at load (<see cref="Kernels.DType.Q8_0"/> or <see cref="Kernels.DType.Q4_0"/>; null:
    /// every weight stays as stored). Only 2-D projections with a column count that is a multiple of 32 and a stored
    /// F32/F16/BF16 dtype are quantized; embeddings, norms, biases and the MoE router stay as stored (see
    /// Models.LoadQuantization). CPU backend only.
    /// </summary>
    public Kernels.DType? Quantize { get; init; }

    /// <summary>
    /// With <see cref="Quantize"/>, also quantize the output head (and, when tied, the embedding table it shares, as
    /// llama.cpp does). Off by default, like llama.cpp's --leave-output-tensor: the head is the most sensitive matrix.
    /// </summary>
    public bool QuantizeOutput { get; init; }

    /// <summary>The config with the rope_scaling override applied.</summary>
    public ModelConfig Apply(ModelConfig config)
    {
        if (RopeScaling is null) return config;
        if (RopeScaling == "none") return config with { RopeScaling = null };
        var parts = RopeScaling.Split(':');
        if (parts.Length != 2 || !double.TryParse(parts[1], System.Globalization.CultureInfo.InvariantCulture, out double factor) || factor < 1)
            throw new LongLMException($"--rope-scaling '{RopeScaling}': expected TYPE:FACTOR with FACTOR >= 1 (e.g. linear:4, dynamic:4, yarn:4) or none");
        string type = parts[0];
        if (type is not ("linear" or "dynamic" or "yarn"))
            throw new LongLMException($"--rope-scaling type '{type}' cannot be set from the command line (supported: linear, dynamic, yarn; llama3 and clex come from config.json)");
        var values = new Dictionary<string, double> { ["factor"] = factor };
        if (type == "yarn") values["original_max_position_embeddings"] = config.MaxPositionEmbeddings;
        return config with { RopeScaling = new RopeScalingConfig(type, factor, values, new Dictionary<string, string>()) };
    }
}
