app_name = "construction"
urlpatterns: list = []
