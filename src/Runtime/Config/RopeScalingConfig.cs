namespace LongLM.Runtime.Config;

/// <summary>
/// config.json "rope_scaling", kept as HF writes it ("type" or "rope_type", "factor", and the method's own keys).
/// The scaling functions that interpret it live with the RoPE frequency table.
/// </summary>
/// <param name="Type">"linear", "dynamic", "yarn", "llama3", "clex", ... ("default" means none).</param>
/// <param name="Factor">"factor", when present.</param>
/// <param name="Values">Every numeric field by name (e.g. low_freq_factor, original_max_position_embeddings, max_factor).</param>
/// <param name="Strings">Every string field by name (e.g. act for CLEX).</param>
public sealed record RopeScalingConfig(string Type, double? Factor, IReadOnlyDictionary<string, double> Values, IReadOnlyDictionary<string, string> Strings);
