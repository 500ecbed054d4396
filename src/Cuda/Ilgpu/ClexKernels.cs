using ILGPU;
using LongLM.Kernels.Ops;

namespace LongLM.Kernels.Ilgpu;

/// <summary>CLEX's ODE solve (<see cref="IBackend.ClexIntegrate"/>, <see cref="ClexOde"/>) as one kernel.</summary>
public static class ClexKernels
{
    /// <summary>Largest m = d/2: one thread of the group per pair (every released model has d = 128 or 32, m = 64 or 16).</summary>
    public const int MaxPairs = GroupReduce.MaxGroupSize;

    /// <summary>Largest MLP width λd that fits the shared hidden vector (Mixtral: λ = 2, d = 128 gives 256).</summary>
    public const int MaxHidden = 512;

    /// <summary>
    /// The whole fixed-grid RK4 (3/8) integration in one group, since the ODE is sequential in t. Thread k owns pair k
    /// (k &lt; m): it keeps y_k, the stage value and k1..k4 in registers and writes the output rows. Each of the four
    /// stages of a step evaluates g(t, stage) in three phases separated by two group barriers:
    /// <list type="number">
    /// <item>threads k &lt; m: u_k = stage_k + ln θ^ntk_k(τ) into shared memory;</item>
    /// <item>all threads, strided over the hidden units j: hidden_j = act(Σ_i W_up[i, j]·u_i), i in order (coalesced
    /// W_up rows, u broadcast from shared memory), into shared memory;</item>
    /// <item>threads k &lt; m: dz_k = Σ_j W_down[j, k]·hidden_j in order, + ξ_k(τ), kept in a register.</item>
    /// </list>
    /// Two barriers per stage cover every hazard: the next stage's u is written after the barrier that ends this
    /// stage's phase 2 (its only reader), and the next hidden vector after the barrier that ends the next phase 1,
    /// which every thread reaches only after its phase 3. Every loop bound is uniform over the group (grid length,
    /// output count, times and grid read by all threads), so all threads meet every barrier.
    /// The per-pair arithmetic is <see cref="ClexOde.Integrate"/>'s, operation for operation; ln θ^ntk and ξ come from
    /// the host-built table (row 3g + s for stage s of step g; the fourth stage reads row 3g + 3, the next step's first),
    /// so they are the runtime's double-then-rounded values. The MLP's tanh and SiLU use <see cref="DeviceMath"/>'s
    /// exp-based forms, and on CUDA ptxas contracts the multiply-adds into FMAs, so results differ from the CPU
    /// backend by float32 rounding only. One group is launched; a larger grid's other groups return at once.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void Integrate(ArrayView<float> z0, ArrayView<float> upProj, ArrayView<float> downProj, ArrayView<float> grid,
        ArrayView<float> timeTerms, ArrayView<float> times, ArrayView<float> result, ClexShape shape)
    {
        var u = SharedMemory.Allocate<float>(MaxPairs);
        var hidden = SharedMemory.Allocate<float>(MaxHidden);
        if (Grid.IdxX != 0) return;
        int m = shape.Pairs, k = Group.IdxX;
        bool owner = k < m;
        float y = owner ? z0[k] : 0f;
        if (owner) result[k] = y;
        int next = 1;
        for (int g = 0; g + 1 < shape.GridLength && next < shape.TimeCount; g++)
        {
            float t0 = grid[g], t1 = grid[g + 1], dt = t1 - t0;
            int point = 3 * g;
            float k1 = Derivative(y, point, upProj, downProj, timeTerms, shape, u, hidden);
            float k2 = Derivative(y + dt * k1 * ClexOde.Third, point + 1, upProj, downProj, timeTerms, shape, u, hidden);
            float k3 = Derivative(y + dt * (k2 - k1 * ClexOde.Third), point + 2, upProj, downProj, timeTerms, shape, u, hidden);
            float k4 = Derivative(y + dt * (k1 - k2 + k3), point + 3, upProj, downProj, timeTerms, shape, u, hidden);
            float dy = (k1 + 3f * (k2 + k3) + k4) * dt * 0.125f;
            float y1 = y + dy;
            for (; next < shape.TimeCount && t1 >= times[next]; next++)
            {
                float t = times[next];
                float value = t == t0 ? y : t == t1 ? y1 : y + (t - t0) / (t1 - t0) * (y1 - y);
                if (owner) result[(long)next * m + k] = value;
            }
            y = y1;
        }
    }

    /// <summary>g(τ, stage) for this thread's pair (0 for threads past m), τ being time point <paramref name="point"/> of the table.</summary>
    private static float Derivative(float stage, int point, ArrayView<float> upProj, ArrayView<float> downProj, ArrayView<float> timeTerms,
        ClexShape shape, ArrayView<float> u, ArrayView<float> hidden)
    {
        int m = shape.Pairs, h = shape.Hidden, k = Group.IdxX;
        long terms = (long)point * 2 * m;
        if (k < m) u[k] = stage + timeTerms[terms + k];
        Group.Barrier();
        for (int j = k; j < h; j += Group.DimX)
        {
            float sum = 0f;
            for (int i = 0; i < m; i++) sum = upProj[(long)i * h + j] * u[i] + sum;
            hidden[j] = shape.Activation == ClexOdeActivation.Tanh ? DeviceMath.Tanh(sum) : sum / (1f + DeviceMath.Exp(-sum));
        }
        Group.Barrier();
        if (k >= m) return 0f;
        float dz = 0f;
        for (int j = 0; j < h; j++) dz = downProj[(long)j * m + k] * hidden[j] + dz;
        return dz + timeTerms[terms + m + k];
    }
}
