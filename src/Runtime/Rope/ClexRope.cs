using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Runtime.Rope;

/// <summary>
/// CLEX (continuous length extrapolation; algorithms.md section 3): per-scale RoPE frequencies from the checkpoint's
/// neural ODE. The ODE (<see cref="ClexVectorField{T}"/>) is solved once, at construction, in float32 with torchdiffeq's
/// fixed-grid RK4 3/8 rule (<see cref="ClexOde{T}"/>) from z(1) = ln(inv_freq) to the integer scales 2..max_factor;
/// given a backend, the solve runs there instead (<see cref="IBackend.ClexIntegrate"/>: the same float32 arithmetic,
/// bit for bit on <c>cpu</c>, within float32 rounding on the ILGPU kernel).
/// A forward whose total length is S uses the scale t = min(ceil(S / L_tr), max_factor) (<see cref="SelectT"/>) and
/// the frequencies of that t at the plain absolute positions; t = 1 uses the stored inv_freq itself.
/// </summary>
/// <remarks>
/// <para>Tensors, as stored (converted to float32, never recomputed from rope_theta; algorithms.md 3.2):</para>
/// <code>
/// model.clex_layer.inv_freq                  [m]      m = d/2, the base frequencies (a persistent buffer)
/// model.clex_layer.proj_func.ode_up_proj     [m, λd]  row vector × matrix, no transpose
/// model.clex_layer.proj_func.ode_down_proj   [λd, m]  λ = rope_scaling.param_factor
/// </code>
/// <para>When t changes (e.g. decoding from 8192 to 8193 tokens with L_tr = 4096) every cached key must be rotated again
/// with the new frequencies, so a KV cache keeps raw keys (algorithms.md 3.4). The reference stops at
/// L_tr·max_factor tokens (<see cref="Exceeds"/>); <see cref="Compute"/> refuses beyond it unless the instance was made
/// with extendBeyondMaxFactor, which keeps the max_factor frequencies.</para>
/// <para>The methods are thread-safe after construction (the solve is done); <see cref="Field"/> is not.</para>
/// </remarks>
public sealed class ClexRope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "clex";
    /// <summary>Base B of the NTK time embedding: 10000 for every released model, whatever rope_theta is (algorithms.md 3.2).</summary>
    public const double TimeEmbeddingBase = 10000;
    /// <summary>Checkpoint name of the stored base frequencies.</summary>
    public const string InvFreqTensor = "model.clex_layer.inv_freq";
    /// <summary>Checkpoint name of W_up.</summary>
    public const string UpProjTensor = "model.clex_layer.proj_func.ode_up_proj";
    /// <summary>Checkpoint name of W_down.</summary>
    public const string DownProjTensor = "model.clex_layer.proj_func.ode_down_proj";

    private readonly float[][] _frequencies;       // [t - 1][k]
    private readonly RopeFrequencies[] _byScale;   // the same, widened for IRopeScaling

    /// <summary>Solves the ODE for t = 2..<paramref name="maxFactor"/> and keeps the frequencies of every integer scale.</summary>
    /// <param name="invFreq">The stored inv_freq, m = d/2 values (t = 1 returns these bit for bit).</param>
    /// <param name="upProj">ode_up_proj, row-major [m, λd].</param>
    /// <param name="downProj">ode_down_proj, row-major [λd, m].</param>
    /// <param name="hidden">λd.</param>
    /// <param name="activation">rope_scaling "act".</param>
    /// <param name="timeDt">rope_scaling "time_dt" (the RK4 step; rounded to float32 as the reference's grid is).</param>
    /// <param name="maxFactor">rope_scaling "max_factor", the largest scale.</param>
    /// <param name="trainedLength">L_tr = max_position_embeddings of the base model.</param>
    /// <param name="extendBeyondMaxFactor">Let <see cref="Compute"/> go past L_tr·max_factor with the max_factor frequencies.</param>
    /// <param name="backend">Where to solve the ODE (<see cref="IBackend.ClexIntegrate"/>); null: the managed float32 solver
    /// <see cref="ClexOde{T}"/>. The backend is used only inside the constructor.</param>
    public ClexRope(float[] invFreq, float[] upProj, float[] downProj, int hidden, ClexActivation activation, double timeDt,
        int maxFactor, long trainedLength, bool extendBeyondMaxFactor = false, IBackend? backend = null)
    {
        ArgumentNullException.ThrowIfNull(invFreq);
        if (maxFactor < 1) throw new ArgumentOutOfRangeException(nameof(maxFactor), maxFactor, "max_factor must be at least 1");
        if (trainedLength < 2) throw new ArgumentOutOfRangeException(nameof(trainedLength), trainedLength, "the trained length must be at least 2");
        float step = (float)timeDt;
        if (!(step > 0) || !float.IsFinite(step)) throw new ArgumentOutOfRangeException(nameof(timeDt), timeDt, "time_dt must be positive");
        foreach (float f in invFreq)
            if (!(f > 0) || !float.IsFinite(f)) throw new ArgumentException($"inv_freq holds {f}; CLEX takes its logarithm, so every entry must be positive", nameof(invFreq));
        var field = new ClexVectorField<float>(upProj, downProj, invFreq.Length, hidden, activation);
        Field = field;
        RotaryDim = 2 * invFreq.Length;
        Activation = activation;
        TimeDt = timeDt;
        MaxFactor = maxFactor;
        TrainedLength = trainedLength;
        ExtendBeyondMaxFactor = extendBeyondMaxFactor;
        SolvedWith = maxFactor > 1 ? backend?.Name : null;

        _frequencies = new float[maxFactor][];
        _frequencies[0] = (float[])invFreq.Clone();
        if (maxFactor > 1)
        {
            var times = new float[maxFactor];
            for (int t = 1; t <= maxFactor; t++) times[t - 1] = t;
            var z0 = new float[invFreq.Length];
            for (int k = 0; k < z0.Length; k++) z0[k] = MathF.Log(invFreq[k]);
            var z = backend is null ? ClexOde<float>.Solve(field, z0, times, step) : SolveOn(backend, z0, upProj, downProj, hidden, activation, times, step);
            for (int t = 2; t <= maxFactor; t++)
            {
                var freq = new float[z0.Length];
                for (int k = 0; k < freq.Length; k++) freq[k] = MathF.Exp(z[t - 1][k]);
                _frequencies[t - 1] = freq;
            }
        }
        _byScale = Array.ConvertAll(_frequencies, f => new RopeFrequencies(Array.ConvertAll(f, x => (double)x), 1f));
    }

    private static float[][] SolveOn(IBackend backend, float[] z0, float[] upProj, float[] downProj, int hidden, ClexActivation activation,
        float[] times, float step)
    {
        var act = activation == ClexActivation.Tanh ? ClexOdeActivation.Tanh : ClexOdeActivation.Silu;
        var flat = LongLM.Kernels.Ops.ClexOde.Solve(backend, z0, upProj, downProj, hidden, act, times, step, TimeEmbeddingBase);
        int m = z0.Length;
        var z = new float[times.Length][];
        for (int j = 0; j < z.Length; j++) z[j] = flat.AsSpan(j * m, m).ToArray();
        return z;
    }

    /// <summary>The <see cref="IBackend.Name"/> of the backend that solved the ODE, or null for the managed solver (or max_factor 1).</summary>
    public string? SolvedWith { get; }

    /// <summary>The ODE's right-hand side (float32), e.g. for a device solver to be checked against; not thread-safe.</summary>
    public ClexVectorField<float> Field { get; }
    /// <summary>rope_scaling "act".</summary>
    public ClexActivation Activation { get; }
    /// <summary>rope_scaling "time_dt".</summary>
    public double TimeDt { get; }
    /// <summary>rope_scaling "max_factor".</summary>
    public int MaxFactor { get; }
    /// <summary>L_tr: max_position_embeddings of the base model (not the CLEX training length).</summary>
    public long TrainedLength { get; }
    /// <summary>The reference's longest sequence, L_tr·max_factor.</summary>
    public long MaxLength => TrainedLength * MaxFactor;
    /// <summary>Whether <see cref="Compute"/> goes past <see cref="MaxLength"/> (with the max_factor frequencies) instead of refusing.</summary>
    public bool ExtendBeyondMaxFactor { get; }
    /// <summary>config.json's top-level "log_scale" when <see cref="Load"/> read one (null when absent or built directly).</summary>
    public bool? LogScaleInConfig { get; private init; }
    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => true;

    /// <summary>
    /// The scale for a forward whose total length (cache plus this call) is <paramref name="totalLength"/>:
    /// min(ceil(S / L_tr), max_factor). S = L_tr gives 1, L_tr + 1 gives 2.
    /// </summary>
    public int SelectT(long totalLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(totalLength, 1);
        long t = totalLength / TrainedLength + (totalLength % TrainedLength != 0 ? 1 : 0);
        return (int)Math.Min(t, MaxFactor);
    }

    /// <summary>True when <paramref name="totalLength"/> is past L_tr·max_factor, where the reference fails.</summary>
    public bool Exceeds(long totalLength) => totalLength > MaxLength;

    /// <summary>
    /// The m = d/2 inverse frequencies of scale <paramref name="t"/> (1..max_factor), float32 as the reference
    /// builds its cos/sin tables from: t = 1 is the stored inv_freq bit for bit, t &gt; 1 is exp(z(t)). A copy.
    /// </summary>
    public float[] Frequencies(int t)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(t, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(t, MaxFactor);
        return (float[])_frequencies[t - 1].Clone();
    }

    /// <summary>
    /// The frequencies for a total length of <paramref name="sequenceLength"/>: those of <see cref="SelectT"/>,
    /// widened exactly to double; attention factor 1 (CLEX's log scaling is separate: <see cref="LogScale"/>).
    /// </summary>
    /// <exception cref="LongLMException">Past L_tr·max_factor without <see cref="ExtendBeyondMaxFactor"/>.</exception>
    public RopeFrequencies Compute(long sequenceLength)
    {
        if (Exceeds(sequenceLength) && !ExtendBeyondMaxFactor)
            throw new LongLMException(
                $"CLEX supports at most {MaxLength} tokens (max_position_embeddings {TrainedLength} × max_factor {MaxFactor}); this call reaches {sequenceLength}");
        return _byScale[SelectT(sequenceLength) - 1];
    }

    /// <summary>
    /// The query multiplier of CLEX's log scaling (algorithms.md 3.5): ln(K) / ln(L_tr) for K keys in the call, not
    /// clamped (below 1 for K &lt; L_tr). With <paramref name="bf16"/> the reference's precision is emulated: each
    /// log taken in float32 and rounded to bf16, the quotient rounded to bf16 (K = 16384, L_tr = 4096 gives
    /// 1.1640625 rather than 1.1666667).
    /// </summary>
    public double LogScale(long keyCount, bool bf16)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keyCount, 1);
        if (!bf16) return Math.Log(keyCount) / Math.Log(TrainedLength);
        float numerator = RoundToBFloat16(MathF.Log(keyCount));
        float denominator = RoundToBFloat16(MathF.Log(TrainedLength));
        return RoundToBFloat16(numerator / denominator);
    }

    private static float RoundToBFloat16(float value) =>
        BitConverter.UInt32BitsToSingle((uint)ElementConvert.SingleToBFloat16(value) << 16);

    /// <summary>Most ODE steps <see cref="Load"/> runs: the reference's settings need a few thousand.</summary>
    public const int MaxOdeSteps = 100_000;

    /// <summary>
    /// Reads the CLEX layer of a checkpoint: rope_scaling {type "clex", max_factor (required), param_factor λ (1),
    /// act ("silu"), time_dt (0.01)}, L_tr = max_position_embeddings, d = the rotary dim, and the three tensors
    /// (shapes [m], [m, λd], [λd, m] checked).
    /// </summary>
    /// <exception cref="ConfigException">rope_scaling is not clex, or a field is missing or bad.</exception>
    /// <exception cref="SafeTensorsException">A tensor is missing or has the wrong shape.</exception>
    /// <param name="store">The checkpoint.</param>
    /// <param name="config">Its config.json.</param>
    /// <param name="extendBeyondMaxFactor">See the constructor.</param>
    /// <param name="backend">Where to solve the ODE; null: the managed float32 solver.</param>
    public static ClexRope Load(WeightStore store, ModelConfig config, bool extendBeyondMaxFactor = false, IBackend? backend = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(config);
        var s = RopeScaling.Scaling(config, TypeName);
        int d = config.RotaryDim, m = d / 2;
        if (d < 4) throw new ConfigException(config.FilePath, $"CLEX needs a rotary dimension of at least 4, found {d}");
        if (config.MaxPositionEmbeddings < 2)
            throw new ConfigException(config.FilePath, $"CLEX needs max_position_embeddings (L_tr) of at least 2, found {config.MaxPositionEmbeddings}");

        double maxFactor = RopeScaling.Required(config, s, "max_factor");
        if (maxFactor < 1 || maxFactor != Math.Floor(maxFactor) || maxFactor > 1 << 16)
            throw new ConfigException(config.FilePath, $"rope_scaling 'max_factor' must be a whole number from 1, found {maxFactor}");
        double lambda = RopeScaling.Positive(config, s, "param_factor", RopeScaling.Number(s, "param_factor") ?? 1);
        double hiddenExact = lambda * d;
        if (hiddenExact != Math.Floor(hiddenExact) || hiddenExact > 1 << 20)
            throw new ConfigException(config.FilePath, $"rope_scaling 'param_factor' {lambda} times the rotary dim {d} is not a whole MLP width");
        int hidden = (int)hiddenExact;
        double timeDt = RopeScaling.Positive(config, s, "time_dt", RopeScaling.Number(s, "time_dt") ?? 0.01);
        // The ODE takes (max_factor - 1) / time_dt steps at load: the reference's 0.01 and max_factor 64 make 6300.
        if ((maxFactor - 1) / timeDt > MaxOdeSteps)
            throw new ConfigException(config.FilePath,
                $"rope_scaling 'time_dt' {timeDt} with 'max_factor' {maxFactor} needs {(maxFactor - 1) / timeDt:G3} ODE steps; at most {MaxOdeSteps} are run");
        string act = s.Strings.TryGetValue("act", out var a) ? a : "silu";
        var activation = act switch
        {
            "silu" => ClexActivation.Silu,
            "tanh" => ClexActivation.Tanh,
            _ => throw new ConfigException(config.FilePath, $"rope_scaling 'act' is '{act}'; CLEX supports 'silu' and 'tanh'"),
        };

        string FileOf(string name) => store.Files.FirstOrDefault(f => f.Tensors.ContainsKey(name))?.FilePath ?? store.Directory;
        float[] Read(string name, long[] shape, string dims)
        {
            var info = store.Info(name);
            if (!info.Shape.SequenceEqual(shape))
                throw new SafeTensorsException(FileOf(name),
                    $"CLEX tensor '{name}' has shape {info.ShapeText}, expected [{string.Join(", ", shape)}] = [{dims}] from rotary dim d = {d} and rope_scaling.param_factor λ = {lambda}");
            return store.View(name).ToFloat32();
        }
        var invFreq = Read(InvFreqTensor, [m], "d/2");
        var up = Read(UpProjTensor, [m, hidden], "d/2, λd");
        var down = Read(DownProjTensor, [hidden, m], "λd, d/2");
        foreach (float f in invFreq)
            if (!(f > 0) || !float.IsFinite(f))
                throw new SafeTensorsException(FileOf(InvFreqTensor), $"'{InvFreqTensor}' holds {f}; every inverse frequency must be positive");

        return new ClexRope(invFreq, up, down, hidden, activation, timeDt, (int)maxFactor, config.MaxPositionEmbeddings, extendBeyondMaxFactor, backend)
        {
            LogScaleInConfig = ReadLogScale(config),
        };
    }

    private static bool? ReadLogScale(ModelConfig config) =>
        config.Raw.ValueKind == JsonValueKind.Object && config.Raw.TryGetProperty("log_scale", out var v)
            ? v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                JsonValueKind.Null => null,
                _ => throw new ConfigException(config.FilePath, $"'log_scale' must be true or false, found {v.GetRawText()}"),
            }
            : null;
}
