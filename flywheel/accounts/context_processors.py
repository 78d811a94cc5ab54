from flywheel.accounts.roles import Role, user_roles


def roles(request):
    """Lets the base layout show each person the navigation of their roles."""
    held = user_roles(getattr(request, "user", None))
    return {
        "user_roles": sorted(r.value for r in held),
        "is_annotator": Role.ANNOTATOR in held,
        "is_engineer": Role.ENGINEER in held,
        "is_ops": Role.OPS in held,
        "is_admin": Role.ADMIN in held,
    }
