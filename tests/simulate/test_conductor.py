import numpy as np

from fasciq.simulate.conductor import ConductorParams, SurfaceKernel


def test_homogeneous_half_space_matches_analytic_potential():
    # isotropic half-space: the surface potential of a point source is I / (2 pi sigma r)
    sigma = 0.3
    kernel = SurfaceKernel(
        ConductorParams(sigma_z=sigma, sigma_r=sigma, fat_mm=0.0, skin_mm=0.0, muscle_mm=16.0),
        0.0,
        z_extent_mm=80.0,
    )
    dx = np.array([0.0, 5.0, 10.0])
    z = np.array([5.0, 10.0, 20.0])
    for depth in (3.0, 8.0, 12.0):
        # a zero-sum tripole (as a fibre's membrane currents are) removes the arbitrary offset
        def num(zz, depth=depth):
            return kernel.lookup(dx, np.abs(np.tile(zz, (3, 1))), depth)

        def ana(zz, depth=depth):
            r = np.sqrt(dx[:, None] ** 2 + zz[None, :] ** 2 + depth**2) * 1e-3
            return 1 / (2 * np.pi * sigma * r)

        tri_num = num(z - 2) - 2 * num(z) + num(z + 2)
        tri_ana = ana(z - 2) - 2 * ana(z) + ana(z + 2)
        np.testing.assert_allclose(tri_num, tri_ana, rtol=0.06)


def test_fat_layer_lowers_and_spreads_the_potential():
    thin = SurfaceKernel(ConductorParams(fat_mm=1.0, muscle_mm=10.0), 0.0, z_extent_mm=80.0)
    thick = SurfaceKernel(ConductorParams(fat_mm=6.0, muscle_mm=10.0), 0.0, z_extent_mm=80.0)
    z = np.array([[0.0, 2.0, 4.0, 20.0]])
    a = thin.lookup(np.array([0.0]), z, 4.0)[0]
    b = thick.lookup(np.array([0.0]), z, 4.0)[0]
    # local contrast (peak above its surroundings) is smaller under thick fat
    assert (b[0] - b[3]) < 0.8 * (a[0] - a[3])
