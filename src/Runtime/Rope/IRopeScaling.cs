namespace LongLM.Runtime.Rope;

/// <summary>
/// One rope_scaling method of config.json, set up once from the config (<see cref="RopeScaling.Create"/>), giving the
/// inverse frequencies and the cos/sin attention factor for the current sequence length.
/// </summary>
/// <remarks>
/// "Sequence length" is always the total length after the current forward call (cache plus new tokens), as HF passes
/// <c>seq_len = max(position_ids) + 1</c> and CLEX passes <c>q_len + past_len</c>. Methods whose result does not depend
/// on it (<see cref="DependsOnLength"/> false) return the same frequencies for every length, so callers compute them
/// once; the others are asked again for every logical forward call. What happens to keys cached under earlier
/// frequencies is the caller's policy: CLEX re-rotates them (algorithms.md 3.4), dynamic NTK keeps them as HF does
/// (docs/rope-scaling.md). The returned arrays are shared: do not modify them.
/// </remarks>
public interface IRopeScaling
{
    /// <summary>The rope_scaling type as config.json names it ("default", "linear", "dynamic", "yarn", "llama3", "clex").</summary>
    string Type { get; }

    /// <summary>Rotary dimension d: the frequencies have d/2 entries.</summary>
    int RotaryDim { get; }

    /// <summary>True when <see cref="Compute"/> depends on the sequence length (dynamic NTK, CLEX).</summary>
    bool DependsOnLength { get; }

    /// <summary>Inverse frequencies (d/2) and attention factor for a total sequence length of <paramref name="sequenceLength"/>.</summary>
    RopeFrequencies Compute(long sequenceLength);
}
