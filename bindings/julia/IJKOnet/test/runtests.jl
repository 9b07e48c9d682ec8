# Tests of the Julia bindings; they need Julia ≥ 1.9 and libijkonet (ENV["IJKONET_LIB"] or the
# crate's target/release). Tiny data and networks, 2 epochs, one thread.
using IJKOnet
using Libdl
using Random
using Test

function tiny_data(n = 12)
    rng = MersenneTwister(1)
    times = [0.0, 1.0, 2.0]
    x = reduce(vcat, [hcat(randn(rng, n) .+ 0.5t, randn(rng, n)) for t in times])
    (x = x, time = repeat(times; inner = n))
end

tiny_model(; variant = "V", kw...) = Model(; variant = variant, energy_hidden = 8, map_hidden = 8, batch_size = 8, map_steps = 2,
    threads = 1, device = "cpu", seed = 3, kw...)

function trained_model()
    d = tiny_data()
    m = tiny_model()
    fit!(m, d.x, d.time; epochs = 2, progress = false)
end

@testset "IJKOnet" begin
    @testset "version" begin
        @test IJKOnet.abi_version() == 2
        @test IJKOnet.version() >= v"0.1.0"
        # The path was resolved when the package loaded (__init__), not at precompile time, and the
        # SONAME every call names is that library.
        @test IJKOnet.library_path[] == get(ENV, "IJKONET_LIB", IJKOnet._find_library())
        @test IJKOnet.libijkonet == "libijkonet.so.0"
        @test Libdl.dlpath(Libdl.dlopen(IJKOnet.libijkonet)) == realpath(Libdl.dlpath(Libdl.dlopen(IJKOnet.library_path[])))
    end

    @testset "names shared with other packages" begin
        # fit! and predict are StatsAPI's generic functions (as in StatsBase, GLM): no clash.
        @test nameof(parentmodule(fit!)) == :StatsAPI
        @test nameof(parentmodule(predict)) == :StatsAPI
        # simulate and save are not exported: called qualified.
        @test !(:simulate in names(IJKOnet)) && !(:save in names(IJKOnet)) && !(:gradient in names(IJKOnet))
        @test isdefined(IJKOnet, :simulate) && isdefined(IJKOnet, :save)
        @test IJKOnet.gradient === grad_potential
    end

    @testset "fit!" begin
        d = tiny_data()
        m = tiny_model()
        @test state(m) == :collecting
        seen = Int[]
        fit!(m, d.x, d.time; epochs = 2, callback = p -> (push!(seen, Int(p.epoch)); false))
        @test seen == [1, 2]
        @test state(m) == :trained
        @test snapshot_times(m) == [0.0, 1.0, 2.0]
        @test dimension(m) == 2
        fit!(m; epochs = 1, progress = false)
        # Labels that are numbers are those numbers.
        m2 = tiny_model()
        fit!(m2, d.x, [string(2t) for t in d.time]; epochs = 1, progress = false)
        @test snapshot_times(m2) == [0.0, 2.0, 4.0]
        # Other labels are refused (never numbered in sorted order: "day10" < "day2")...
        labels = ["day2", "day10", "day30"][Int.(d.time).+1]
        e = try
            fit!(tiny_model(), d.x, labels; epochs = 1, progress = false)
        catch err
            err
        end
        @test e isa ArgumentError && occursin("\"day2\"", e.msg) && occursin("time_values", e.msg)
        # ... unless time_values gives every label's time.
        m3 = tiny_model()
        fit!(m3, d.x, labels; time_values = Dict("day2" => 2, "day10" => 10, "day30" => 30), epochs = 1,
            progress = false)
        @test snapshot_times(m3) == [2.0, 10.0, 30.0]
        @test_throws ArgumentError fit!(tiny_model(), d.x, labels; time_values = Dict("day2" => 2),
            epochs = 1, progress = false)
        @test_throws ArgumentError fit!(tiny_model(), d.x, d.time; time_values = Dict("a" => 1), epochs = 1,
            progress = false)
    end

    @testset "predict and rollout" begin
        m = trained_model()
        d = tiny_data()
        x0 = d.x[d.time.==0, :]
        p1 = predict(m, x0; step = 1)
        @test size(p1) == size(x0)
        @test all(isfinite, p1)
        @test p1 != x0
        @test predict(m, x0; to_time = 1.0, from_time = 0.0) ≈ p1
        r = rollout(m, x0; from = 1, steps = 2)
        @test size(r) == (size(x0)..., 2)
        @test r[:, :, 1] ≈ p1
        @test r[:, :, 2] ≈ predict(m, p1; step = 2)
        @test_throws IJKOnetError predict(m, x0; step = 3)
    end

    @testset "simulate" begin
        m = trained_model()
        x0 = tiny_data().x[1:5, :]
        s = IJKOnet.simulate(m, x0; dt = 0.05, n_steps = 4, seed = 7)
        @test size(s) == (5, 2, 5)
        @test s[:, :, 1] ≈ x0
        @test s == IJKOnet.simulate(m, x0; dt = 0.05, n_steps = 4, seed = 7)
        e = try
            IJKOnet.simulate(m, x0; dt = -1.0, n_steps = 2)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument
    end

    @testset "potential and gradient" begin
        m = trained_model()
        x = tiny_data().x[1:4, :]
        g = grad_potential(m, x)
        @test size(g) == size(x)
        h = 1e-2 # float32 networks: a larger step keeps rounding out of the difference
        for j in 1:2
            e = zeros(size(x))
            e[:, j] .= h
            fd = (potential(m, x .+ e) .- potential(m, x .- e)) ./ (2h)
            @test isapprox(g[:, j], fd; rtol = 2e-2)
        end
    end

    @testset "per-row times" begin
        d = tiny_data()
        m = fit!(tiny_model(variant = "t,V"), d.x, d.time; epochs = 2, progress = false)
        x = d.x[1:4, :]
        ts = [0.0, 0.5, 1.0, 2.0]
        v = potential(m, x; t = ts)
        g = grad_potential(m, x; t = ts)
        for i in 1:4
            @test isapprox(v[i], potential(m, x[i:i, :]; t = ts[i])[1]; rtol = 1e-6)
            @test isapprox(g[i, :], grad_potential(m, x[i:i, :]; t = ts[i])[1, :]; rtol = 1e-6)
        end
        @test isapprox(potential(m, x; t = 1.0), potential(m, x; t = fill(1.0, 4)); rtol = 1e-6)
        @test_throws ArgumentError potential(m, x; t = [0.0, 1.0])
        @test_throws ArgumentError grad_potential(m, x; t = [0.0, 1.0, 2.0])
        e = try
            potential(m, x; t = [0.0, NaN, 1.0, 2.0])
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument
    end

    @testset "copy, model_info, epochs_done, interaction_field" begin
        m = trained_model()
        x = tiny_data().x
        c = copy(m)
        @test state(c) == :loaded
        @test potential(c, x) == potential(m, x)
        @test_throws IJKOnetError fit!(c; epochs = 1, progress = false)
        before = potential(c, x)
        fit!(m; epochs = 1, progress = false)
        @test potential(c, x) == before # the copy is independent of further training
        @test_throws IJKOnetError copy(tiny_model())
        @test epochs_done(m) == 3
        @test epochs_done(c) == 2
        info = model_info(m)
        @test keys(info) == (:method, :variant, :device, :centre, :scale)
        @test info.method == "ijkonet" && info.variant == "V" && info.device == "cpu"
        @test length(info.centre) == 2 && all(isfinite, info.centre) && all(>(0), info.scale)
        @test_throws IJKOnetError model_info(tiny_model())
        @test occursin("epochs=3", sprint(show, m))
        d = tiny_data()
        mw = fit!(tiny_model(variant = "V+W"), d.x, d.time; epochs = 1, progress = false)
        f = interaction_field(mw, x[1:3, :], x)
        @test size(f) == (3, 2) && all(isfinite, f)
        @test isapprox(interaction_field(mw, x[1:3, :], x[5:5, :]), interaction_field(mw, x[1:3, :], x[[5, 5, 5], :]);
            rtol = 1e-6)
        @test_throws ArgumentError interaction_field(mw, x[1:3, :], x[:, 1:1])
        e = try
            interaction_field(m, x[1:3, :], x)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :state
    end

    @testset "save and load" begin
        m = trained_model()
        path = tempname() * ".safetensors"
        IJKOnet.save(m, path)
        loaded = load_model(path)
        @test state(loaded) == :loaded
        x = tiny_data().x[1:6, :]
        @test predict(loaded, x) ≈ predict(m, x)
        @test potential(loaded, x) ≈ potential(m, x)
        @test_throws IJKOnetError fit!(loaded; epochs = 1, progress = false)
        on_cpu = load_model(path; device = "cpu")
        @test predict(on_cpu, x) ≈ predict(m, x)
        e = try
            load_model(path; device = "tpu")
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument && occursin("tpu", e.msg)
        rm(path)
    end

    @testset "wasserstein1" begin
        x = tiny_data().x[1:10, :]
        # A translation by a = (3, 4) costs exactly |a| = 5.
        @test isapprox(wasserstein1(x, x .+ [3.0 4.0]), 5.0; atol = 1e-12)
        @test isapprox(wasserstein1(x, x), 0.0; atol = 1e-12)
        @test isapprox(wasserstein1(x[1:4, :], x), wasserstein1(x, x[1:4, :]); atol = 1e-12)
        @test_throws ArgumentError wasserstein1(x, x[:, 1:1])
    end

    @testset "baseline_predict" begin
        m = trained_model()
        d = tiny_data()
        x0, x1, x2 = (d.x[d.time.==t, :] for t in (0.0, 1.0, 2.0))
        mean_row(a) = sum(a; dims = 1) ./ size(a, 1)
        # No motion: the cells themselves, exactly.
        @test baseline_predict(m, x0, 1; baseline = :no_motion) == x0
        # Mean shift: every cell moves by the difference of the training snapshots' means.
        s = baseline_predict(m, x0, 1; baseline = :mean_shift)
        @test isapprox(s .- x0, repeat(mean_row(x1) .- mean_row(x0), size(x0, 1)); atol = 1e-12)
        @test isapprox(baseline_predict(m, x1, 2; baseline = :mean_shift) .- x1,
            repeat(mean_row(x2) .- mean_row(x1), size(x1, 1)); atol = 1e-12)
        # Affine OT (the default): maps the training snapshot's mean onto the next one's.
        a = baseline_predict(m, x0, 1)
        @test size(a) == size(x0)
        @test isapprox(mean_row(a), mean_row(x1); atol = 1e-9)
        @test !isapprox(a, s)
        e = try
            baseline_predict(m, x0, 3)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument && occursin("step 2 out of range", e.msg)
        @test_throws ArgumentError baseline_predict(m, x0, 0)
        @test_throws ArgumentError baseline_predict(m, x0, 1; baseline = :linear)
        @test_throws IJKOnetError baseline_predict(m, zeros(2, 3), 1)
        e = try
            baseline_predict(tiny_model(), x0, 1)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :state
    end

    @testset "evaluate_step" begin
        m = trained_model()
        # Held-out cells of the same process (other draws, another number per snapshot).
        rng = MersenneTwister(2)
        held = [hcat(randn(rng, 15) .+ 0.5t, randn(rng, 15)) for t in (0.0, 1.0, 2.0)]
        for k in 1:2
            xk, xn = held[k], held[k+1]
            ev = evaluate_step(m, k, xk, xn)
            @test keys(ev) == (:model_w1, :no_motion, :mean_shift, :affine_ot)
            @test all(v -> isfinite(v) && v >= 0, values(ev))
            # No motion is the W1 between the two observed snapshots.
            @test isapprox(ev.no_motion, wasserstein1(xk, xn); atol = 1e-12)
            @test isapprox(ev.model_w1, wasserstein1(predict(m, xk; step = k), xn); atol = 1e-9)
            @test isapprox(ev.mean_shift, wasserstein1(baseline_predict(m, xk, k; baseline = :mean_shift), xn); atol = 1e-12)
            @test isapprox(ev.affine_ot, wasserstein1(baseline_predict(m, xk, k; baseline = :affine_ot), xn); atol = 1e-12)
        end
        # A loaded model keeps its baseline fits.
        path = tempname() * ".safetensors"
        IJKOnet.save(m, path)
        ev = evaluate_step(m, 1, held[1], held[2])
        ev2 = evaluate_step(load_model(path), 1, held[1], held[2])
        @test all(isapprox.(values(ev2), values(ev); atol = 1e-6))
        rm(path)
        e = try
            evaluate_step(m, 3, held[1], held[2])
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument
        @test_throws ArgumentError evaluate_step(m, 1, held[1], held[2][:, 1:1])
        @test_throws ArgumentError evaluate_step(m, 0, held[1], held[2])
        @test_throws IJKOnetError evaluate_step(m, 1, zeros(2, 3), zeros(2, 3))
        @test_throws IJKOnetError evaluate_step(m, 1, [NaN 0.0], held[2])
        @test_throws IJKOnetError evaluate_step(tiny_model(), 1, held[1], held[2])
    end

    @testset "errors" begin
        e = try
            Model(learning_rate = 1)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :invalid_argument && occursin("learning_rate", e.msg)
        @test_throws IJKOnetError Model(variant = "V+X")
        @test_throws IJKOnetError Model(epochs = -1)
        @test_throws IJKOnetError predict(tiny_model(), zeros(2, 2))
        d = tiny_data()
        one = d.x[d.time.==0, :]
        @test_throws IJKOnetError fit!(tiny_model(), one, zeros(size(one, 1)); epochs = 1, progress = false)
        @test_throws ArgumentError fit!(tiny_model(), d.x, d.time[2:end])
        @test_throws IJKOnetError load_model(tempname())
        @test_throws IJKOnetError predict(trained_model(), zeros(2, 3))
    end

    @testset "cancellation" begin
        m = trained_model()
        e = try
            fit!(m; epochs = 5, callback = p -> true)
        catch err
            err
        end
        @test e isa IJKOnetError && e.kind == :cancelled
        # An exception in the callback (an InterruptException from Ctrl-C alike) cancels and is rethrown.
        @test_throws InterruptException fit!(m; epochs = 5, callback = p -> throw(InterruptException()))
        fit!(m; epochs = 1, progress = false)
        @test state(m) == :trained
    end
end
