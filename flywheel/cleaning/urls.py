app_name = "cleaning"
urlpatterns: list = []
